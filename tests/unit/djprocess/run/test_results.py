"""``djprocess.run._results``: the run child reports a ``RunResult`` and the supervisor reads
the same string back; the stop reasons are one set, shared by the runner and the watcher."""

from __future__ import annotations

import json

from unit_helpers import Make

from djprocess.run import _statuswatcher, runner
from djprocess.run import child as runchild
from djprocess.run._results import RunResult, StopReason


def test_the_run_childs_reports_carry_a_run_result(make: Make) -> None:
    succeeded = runchild._run(make(kind="succeed", seconds=0, lines=1))
    failed = runchild._run(make(kind="fail"))
    # What goes on the pipe is JSON: the member's value, read back as the same member.
    wire = [json.loads(json.dumps(report))["result"] for report in (succeeded, failed)]
    assert [RunResult(value) for value in wire] == [RunResult.SUCCEEDED, RunResult.FAILED]
    assert failed["exception"] == "RuntimeError: example failure"


def test_the_runner_and_the_watcher_mean_the_same_deleted() -> None:
    assert runner.DELETED is StopReason.DELETED
    assert _statuswatcher.DELETED is StopReason.DELETED
    assert runner.Outcome.SUCCEEDED is RunResult.SUCCEEDED
    # A StrEnum member is its string: logs, JSON and older comparisons see "deleted".
    assert f"{StopReason.DELETED}" == "deleted" == StopReason.DELETED
