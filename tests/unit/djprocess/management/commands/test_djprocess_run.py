"""``manage.py djprocess_run``: runs one pending process here; the exit code is its result."""

from __future__ import annotations

import io
from collections.abc import Callable

import pytest
from command_helpers import LABEL, command_help, run
from django.core.management import call_command
from django.core.management.base import CommandError

from djprocess_example.models import ExampleProcess

pytestmark = pytest.mark.django_db


def test_help_describes_exit_codes() -> None:
    result = command_help("djprocess_run")
    assert result.returncode == 0, result.stderr
    assert "Exit codes: 0" in " ".join(result.stdout.split())


def test_run_runs_synchronously_and_exits_by_result(
    make_process: Callable[..., ExampleProcess],
) -> None:
    ok = make_process(lines=2)
    code, out = run("djprocess_run", LABEL, str(ok.pk))
    assert code == 0, out
    assert "working on item 2/2" in out
    assert f"{LABEL} {ok.pk}: succeeded in" in out
    failing = make_process(kind="fail")
    err = io.StringIO()
    with pytest.raises(CommandError) as caught:
        call_command("djprocess_run", LABEL, str(failing.pk), stdout=io.StringIO(), stderr=err)
    assert caught.value.returncode == 1
    assert "RuntimeError: example failure" in err.getvalue()
    code, out = run("djprocess_run", LABEL, str(ok.pk))
    assert code == 1
    assert "only a pending, undispatched process can be run" in out
