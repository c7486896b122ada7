"""djprocess.display: how a duration, a progress and how a run ended are written out."""

from __future__ import annotations

from datetime import timedelta

import pytest

from djprocess import display
from djprocess_example.models import ExampleProcess


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(None, ""), (4.25, "4.2s"), (-1, "0.0s"), (187, "3m 07s"), (7387, "2h 03m 07s")],
)
def test_format_duration(seconds: float | None, text: str) -> None:
    value = None if seconds is None else timedelta(seconds=seconds)
    assert display.format_duration(value) == text


def test_format_progress_and_ended_how() -> None:
    process = ExampleProcess(status="running")
    assert display.format_progress(process) == ""
    process.progress_current = 9
    assert display.format_progress(process) == "9 done"
    process.progress_total = 20
    assert display.format_progress(process) == "45% (9/20)"
    assert display.ended_how(process) == ""
    process.status = "timed_out"
    process.stopped_by = "watchdog"
    process.termination = "SIGKILL after 3 SIGTERM"
    assert display.ended_how(process) == "by watchdog; SIGKILL after 3 SIGTERM"
    failed = ExampleProcess(status="failed", exception="RuntimeError: boom\nmore")
    assert display.ended_how(failed) == "RuntimeError: boom"
