"""``manage.py djprocess_cancel``: cancels, exit code 1 when a process had already finished."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from command_helpers import LABEL, command_help, run

from djprocess_example.models import ExampleProcess

pytestmark = pytest.mark.django_db


def test_help_describes_exit_codes() -> None:
    result = command_help("djprocess_cancel")
    assert result.returncode == 0, result.stderr
    assert "Exit codes: 0" in " ".join(result.stdout.split())


def test_cancel_cancels_and_says_when_already_finished(
    make_process: Callable[..., ExampleProcess],
) -> None:
    pending = make_process()
    code, out = run("djprocess_cancel", LABEL, str(pending.pk))
    assert code == 0
    assert f"{LABEL} {pending.pk}: cancelled (status cancelled)" in out
    code, out = run("djprocess_cancel", LABEL, str(pending.pk))
    assert code == 1
    assert "already finished (status cancelled)" in out
