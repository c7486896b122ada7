"""``manage.py djprocess_list``: the table, its filters and its exit codes."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from command_helpers import command_help, run

from djprocess_example.models import ExampleProcess

pytestmark = pytest.mark.django_db


def test_help_describes_exit_codes() -> None:
    result = command_help("djprocess_list")
    assert result.returncode == 0, result.stderr
    assert "Exit codes: 0" in " ".join(result.stdout.split())


def test_list_filters_by_model_and_status(make_process: Callable[..., ExampleProcess]) -> None:
    done = make_process(lines=2)
    done.execute()
    failed = make_process(kind="fail")
    failed.execute()
    pending = make_process()
    code, out = run("djprocess_list")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == [
        "MODEL",
        "PK",
        "STATUS",
        "PROGRESS",
        "DURATION",
        "STARTED",
        "HOW",
        "IT",
        "ENDED",
    ]
    assert [line.split()[1] for line in lines[1:]] == [
        str(pending.pk),
        str(failed.pk),
        str(done.pk),
    ]
    assert "100% (2/2)" in out
    assert "RuntimeError: example failure" in out
    code, out = run(
        "djprocess_list", "--model", "djprocess_example.exampleprocess", "--status", "failed"
    )
    assert code == 0
    assert [line.split()[1] for line in out.splitlines()[1:]] == [str(failed.pk)]
    assert run("djprocess_list", "--status", "cancelled") == (0, "no processes\n")
    code, out = run("djprocess_list", "--status", "bogus")
    assert code == 2
    assert "--status 'bogus': use one of pending, running" in out
    code, out = run("djprocess_list", "--model", "nosuch.Model")
    assert code == 2
    assert "unknown process model" in out
    code, _ = run("djprocess_list", "--limit", "0")
    assert code == 2
