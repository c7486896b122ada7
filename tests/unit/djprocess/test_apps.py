"""``djprocess.apps``: the app's ``ready()`` registers its system checks with Django."""

from __future__ import annotations

import pytest
from django.core.checks import CheckMessage, run_checks
from django.test import override_settings

# run_checks() includes Django's model checks, which open a connection (JSONField support).
pytestmark = pytest.mark.django_db


def djprocess_messages(messages: list[CheckMessage]) -> list[CheckMessage]:
    return [m for m in messages if str(m.id).startswith("djprocess")]


def test_checks_are_registered_with_django() -> None:
    with override_settings(DJPROCESS_KILL_TERM_RETRIES=-1):
        assert [m.id for m in djprocess_messages(run_checks())] == ["djprocess.E004"]
