"""``djprocess.status``: the spec's spellings and which statuses are final."""

from __future__ import annotations

from djprocess import status


def test_statuses_are_spelled_as_in_the_spec() -> None:
    assert [value for value, _label in status.STATUS] == [
        "pending",
        "running",
        "succeeded",
        "failed",
        "cancelled",
        "timed_out",
    ]


def test_terminal_and_active_partition_the_statuses() -> None:
    assert {"succeeded", "failed", "cancelled", "timed_out"} == status.TERMINAL
    assert {"pending", "running"} == status.ACTIVE
    assert not status.TERMINAL & status.ACTIVE
    assert {value for value, _label in status.STATUS} == status.TERMINAL | status.ACTIVE
