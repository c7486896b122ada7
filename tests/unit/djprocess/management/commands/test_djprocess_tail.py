"""The djprocess_* management commands: output, error paths and exit codes."""

from __future__ import annotations

import io
import os
import select
import signal
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError

from djprocess.management.commands import djprocess_tail
from djprocess_example.models import ExampleProcess

pytestmark = pytest.mark.django_db

LABEL = "djprocess_example.ExampleProcess"
COMMANDS = (
    "djprocess_list",
    "djprocess_tail",
    "djprocess_start",
    "djprocess_cancel",
    "djprocess_run",
)


def _command_line_env() -> dict[str, str]:
    """``python -m django``'s environment: the test settings, importable from ``tests/``."""
    return {
        "DJANGO_SETTINGS_MODULE": settings.SETTINGS_MODULE,
        "PATH": "",
        "PYTHONPATH": os.environ["PYTHONPATH"],
    }


def run(*args: Any, **options: Any) -> tuple[int, str]:
    """Call a command; returns (exit code, stdout). The exit code of a CommandError is its
    ``returncode``, as ``manage.py`` would exit with."""
    out = io.StringIO()
    try:
        call_command(*args, stdout=out, stderr=io.StringIO(), **options)
    except CommandError as exc:
        return exc.returncode, out.getvalue() + f"\nERROR: {exc}"
    return 0, out.getvalue()


@pytest.mark.parametrize("name", COMMANDS)
def test_help_describes_exit_codes(name: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "django", name, "--help"],
        capture_output=True,
        text=True,
        env=_command_line_env(),
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "Exit codes: 0" in " ".join(result.stdout.split())


@pytest.mark.parametrize("name", [c for c in COMMANDS if c != "djprocess_list"])
def test_unknown_model_label_or_pk_is_a_usage_error(
    name: str, make_process: Callable[..., ExampleProcess]
) -> None:
    code, out = run(name, "nosuch.Model", "1")
    assert code == 2
    assert (
        "unknown process model 'nosuch.Model': use one of djprocess_example.ExampleProcess" in out
    )
    code, out = run(name, "auth.User", "1")
    assert code == 2
    assert "unknown process model" in out
    code, out = run(name, LABEL, "999")
    assert (code, out.strip()) == (
        2,
        "ERROR: djprocess_example.ExampleProcess has no process with pk '999'",
    )
    code, out = run(name, LABEL, "abc")
    assert code == 2
    assert "no process with pk 'abc'" in out


def test_usage_error_exits_2_from_the_command_line() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "django", "djprocess_cancel", "nosuch.Model", "1"],
        capture_output=True,
        text=True,
        env=_command_line_env(),
        check=False,
    )
    assert result.returncode == 2
    assert "unknown process model 'nosuch.Model'" in result.stderr


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


def test_tail_prints_the_last_lines_of_a_finished_process(
    make_process: Callable[..., ExampleProcess],
) -> None:
    process = make_process(lines=30)
    process.execute()
    total = process.log_count()
    code, out = run("djprocess_tail", LABEL, str(process.pk), "-n", "5")
    assert code == 0
    printed = [int(line.split()[0]) for line in out.splitlines()[:-1]]
    assert printed == list(range(total - 4, total + 1))
    assert out.splitlines()[-1].startswith(f"{LABEL} {process.pk}: succeeded in ")
    assert "\x1b" not in out  # not a terminal: plain lines, no progress bar
    code, out = run("djprocess_tail", LABEL, str(process.pk), "--from-start")
    assert [int(line.split()[0]) for line in out.splitlines()[:-1]] == list(range(1, total + 1))


def test_tail_exit_codes(make_process: Callable[..., ExampleProcess]) -> None:
    failed = make_process(kind="fail")
    failed.execute()
    code, out = run("djprocess_tail", LABEL, str(failed.pk))
    assert code == 1
    assert "the process ended failed" in out
    pending = make_process()
    code, out = run("djprocess_tail", LABEL, str(pending.pk), "--no-follow")
    assert code == 3
    assert "has not ended" in out
    code, out = run("djprocess_tail", LABEL, str(pending.pk), "--interval", "0")
    assert code == 2


class FollowingTail(djprocess_tail.Command):
    """The real command; its pause between two looks runs the process to its end instead."""

    def __init__(self, process: ExampleProcess, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.process = process
        self.waits = 0

    def wait(self, seconds: float) -> None:
        self.waits += 1
        if self.waits == 1:
            self.process.log("written while tail waits")
        elif self.waits == 2:
            self.process.execute()


class TTY(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_tail_follows_until_the_run_ends_with_a_progress_bar_on_a_terminal(
    make_process: Callable[..., ExampleProcess],
) -> None:
    process = make_process(lines=4)
    process.log("before")
    out = TTY()
    command = FollowingTail(process)
    call_command(command, LABEL, str(process.pk), stdout=out, interval=0.01)
    text = out.getvalue()
    assert command.waits == 2
    lines = [line for line in text.replace("\r\x1b[K", "\n").splitlines() if line.strip()]
    messages = [line.split(maxsplit=3)[3] for line in lines if line.split()[0].isdigit()]
    assert messages[:2] == ["before", "written while tail waits"]
    assert "working on item 4/4" in messages
    assert "pending" in text  # the bar shows the status while following
    assert "\r\x1b[K" in text
    assert lines[-1].startswith(f"{LABEL} {process.pk}: succeeded")


def test_tail_stops_following_at_its_timeout_and_clears_its_bar(
    make_process: Callable[..., ExampleProcess],
) -> None:
    process = make_process()
    process.set_progress(3)  # no total: the bar cannot show a fraction
    out = TTY()
    with pytest.raises(CommandError) as caught:
        call_command(
            "djprocess_tail", LABEL, str(process.pk), stdout=out, interval=0.01, timeout=0.05
        )

    assert caught.value.returncode == 3
    text = out.getvalue()
    assert "[" + "?" * djprocess_tail.BAR_WIDTH + "]" in text
    # The bar is cleared before the last line, which says the run has not ended.
    assert text.endswith(f"\r\x1b[K{LABEL} {process.pk}: pending\n")


def _supervise(*args: str) -> subprocess.Popen[str]:
    # The whole environment: coverage measures the command through it too.
    env = {**os.environ, **_command_line_env(), "PATH": os.environ.get("PATH", "")}
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
