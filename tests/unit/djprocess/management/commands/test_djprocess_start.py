"""``manage.py djprocess_start``: starts pending processes, exit code 1 for the others."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from command_helpers import LABEL, command_help, run

from djprocess_example.models import ExampleProcess

pytestmark = pytest.mark.django_db


def test_help_describes_exit_codes() -> None:
    result = command_help("djprocess_start")
    assert result.returncode == 0, result.stderr
    assert "Exit codes: 0" in " ".join(result.stdout.split())


def test_start_starts_pending_and_refuses_the_others(
    make_process: Callable[..., ExampleProcess],
) -> None:
    first, second = make_process(), make_process()
    code, out = run("djprocess_start", LABEL, str(first.pk), str(second.pk))
    assert code == 0, out
    assert f"{LABEL} {first.pk}: started" in out
    first.refresh_from_db()
    assert first.status == "succeeded"  # Celery is eager in the unit tests
    code, out = run("djprocess_start", LABEL, str(first.pk))
    assert code == 1
    assert f"{LABEL} {first.pk}: already finished" in out
