"""``manage.py djprocess_supervise``: the sweeper in the foreground, and ``--once``."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
from collections.abc import Callable
from datetime import timedelta

import pytest
from command_helpers import command_line_env
from django.core.management import call_command
from unit_helpers import set_running

from djprocess import status
from djprocess_example.models import ExampleProcess

pytestmark = pytest.mark.django_db


def _supervise(*args: str) -> subprocess.Popen[str]:
    # The whole environment: coverage measures the command through it too.
    env = {**os.environ, **command_line_env(), "PATH": os.environ.get("PATH", "")}
    return subprocess.Popen(
        [sys.executable, "-m", "django", "djprocess_supervise", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_supervise_runs_the_sweeper_until_sigterm() -> None:
    command = _supervise()
    assert command.stdout is not None
    ready, _, _ = select.select([command.stdout], [], [], 60)
    assert ready, "djprocess_supervise did not say it runs"
    assert command.stdout.readline().startswith("djprocess sweeper running every ")

    command.send_signal(signal.SIGTERM)
    out, _ = command.communicate(timeout=60)

    assert command.returncode == 0
    assert out.strip() == "djprocess sweeper stopped"


def test_supervise_once_exits_1_when_the_database_cannot_be_read() -> None:
    # The command's own process has an empty in-memory database: no tables to read.
    command = _supervise("--once")
    _, err = command.communicate(timeout=60)
    assert command.returncode == 1
    assert "cannot read the processes: no such table" in err


def test_supervise_once_sweeps_what_is_due(
    make_process: Callable[..., ExampleProcess], backend: object, capsys: pytest.CaptureFixture[str]
) -> None:
    process = make_process(timeout=timedelta(seconds=1))
    set_running(process, started_ago=timedelta(seconds=5))
    ExampleProcess.objects.filter(pk=process.pk).update(next_check_at=process.deadline_at)

    call_command("djprocess_supervise", "--once")

    assert "timed_out: 1" in capsys.readouterr().out
    assert ExampleProcess.objects.get(pk=process.pk).status == status.TIMED_OUT
