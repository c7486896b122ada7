"""The example's ``process_finished`` receiver mails the admins when a run fails
(``djprocess_example.notifications``), through Django's locmem e-mail backend."""

from __future__ import annotations

import pytest
from django.core import mail
from django.test import override_settings

from djprocess_example.models import ExampleProcess

pytestmark = pytest.mark.django_db(transaction=True)  # signals are sent after commit


@override_settings(ADMINS=["ops@example.com"])
def test_a_failed_run_mails_the_admins() -> None:
    process = ExampleProcess.objects.create(kind="fail", seconds=0)

    assert process.execute() == "failed"

    [message] = mail.outbox
    assert message.to == ["ops@example.com"]
    assert message.subject.endswith(f"ExampleProcess #{process.pk} (failed) failed")
    assert "RuntimeError: example failure" in message.body
    assert "Traceback" in message.body


@override_settings(ADMINS=["ops@example.com"])
def test_a_succeeded_run_mails_nobody() -> None:
    assert ExampleProcess.objects.create(seconds=0, lines=1).execute() == "succeeded"
    assert mail.outbox == []
