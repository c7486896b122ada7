"""``manage.py djprocess_tail``: the last lines, following until the run ends (a progress bar
on a terminal), and its exit codes."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import pytest
from command_helpers import LABEL, command_help, run
from django.core.management import call_command
from django.core.management.base import CommandError

from djprocess.management.commands import djprocess_tail
from djprocess_example.models import ExampleProcess

pytestmark = pytest.mark.django_db


def test_help_describes_exit_codes() -> None:
    result = command_help("djprocess_tail")
    assert result.returncode == 0, result.stderr
    assert "Exit codes: 0" in " ".join(result.stdout.split())


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
