"""``djprocess.run.runner.execute``: the claim, ``run()``, and how the run is recorded."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable
from typing import Any

import pytest
from recording_backend import RecordingBackend
from unit_helpers import messages

from djprocess import status
from djprocess._transitions import compare_and_set
from djprocess.exceptions import ProcessNotSaved
from djprocess_example.models import ExampleProcess

MakeProcess = Callable[..., ExampleProcess]
CustomRun = Callable[[Callable[[ExampleProcess], None]], str]

WATCHED_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGUSR1, signal.SIGUSR2, signal.SIGHUP)


def handlers() -> dict[int, Any]:
    return {signum: signal.getsignal(signum) for signum in WATCHED_SIGNALS}


def test_a_run_that_returns_succeeds(make_process: MakeProcess) -> None:
    process = make_process("succeed", lines=2)

    assert process.execute(hostname="host-a") == status.SUCCEEDED

    process.refresh_from_db()
    assert process.status == status.SUCCEEDED
    assert process.started_at is not None
    assert process.finished_at is not None
    assert process.finished_at >= process.started_at
    assert process.worker_hostname == "host-a"
    assert process.worker_pid == os.getpid()
    assert process.attempts == 1
    assert process.exception == ""
    lines = messages(process)
    assert lines[0].startswith(f"started on host-a (pid {os.getpid()}, timeout ")
    assert lines[1:4] == [
        "working on item 1/2",
        "working on item 2/2",
        "a library logger speaking from inside run()",
    ]
    assert lines[-1].startswith("succeeded in ")


def test_a_run_that_raises_fails_with_traceback_kept_and_logged(make_process: MakeProcess) -> None:
    process = make_process("fail")

    assert process.execute() == status.FAILED

    process.refresh_from_db()
    assert process.status == status.FAILED
    assert process.exception == "RuntimeError: example failure"
    assert process.traceback.startswith("Traceback (most recent call last):")
    assert "_run_fail" in process.traceback
    assert process.finished_at is not None
    last = process.logs.order_by("sequence").last()
    assert last is not None
    assert last.level == "ERROR"
    assert last.message.startswith("failed after ")
    assert "RuntimeError: example failure" in last.message
    assert "Traceback (most recent call last):" in last.message


def test_inline_execute_leaves_the_hosts_sigterm_handler_in_charge(
    make_process: MakeProcess, custom_run: CustomRun
) -> None:
    # Outside a worker, signal handling belongs to the host (a web server, a test run):
    # its SIGTERM handler runs, and the signal is not recorded as the run's failure.
    seen: list[str] = []

    def host_handler(signum: int, frame: object) -> None:
        seen.append("host handler")

    def run(self: ExampleProcess) -> None:
        os.kill(os.getpid(), signal.SIGTERM)
        deadline = time.monotonic() + 5
        while not seen and time.monotonic() < deadline:  # delivered at the next bytecode
            time.sleep(0.01)

    previous = signal.signal(signal.SIGTERM, host_handler)
    try:
        process = make_process(custom_run(run))
        assert process.execute() == status.SUCCEEDED
        assert signal.getsignal(signal.SIGTERM) is host_handler
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert seen == ["host handler"]


def test_inline_execute_leaves_the_callers_child_processes_alone(
    make_process: MakeProcess,
) -> None:
    # An unrelated child of the caller must survive a run that ends inline.
    child = subprocess.Popen(["sleep", "30"])
    try:
        assert make_process("succeed").execute() == status.SUCCEEDED
        assert child.poll() is None
    finally:
        child.kill()
        child.wait()


def test_keyboard_interrupt_in_an_inline_run_is_recorded_and_raised(
    make_process: MakeProcess, custom_run: CustomRun
) -> None:
    def run(self: ExampleProcess) -> None:
        raise KeyboardInterrupt

    process = make_process(custom_run(run))

    with pytest.raises(KeyboardInterrupt):
        process.execute()

    process.refresh_from_db()
    assert process.status == status.FAILED
    assert process.exception == "KeyboardInterrupt: "
    assert process.finished_at is not None


def test_a_process_that_is_not_pending_is_not_run(
    make_process: MakeProcess, custom_run: CustomRun
) -> None:
    calls: list[int] = []
    process = make_process(custom_run(lambda self: calls.append(1)))
    assert process.execute() == status.SUCCEEDED

    # A duplicate delivery (or any second call): not run again, status unchanged.
    assert process.execute() == status.SUCCEEDED
    assert ExampleProcess.objects.get(pk=process.pk).attempts == 1
    assert calls == [1]


def test_a_worker_runs_only_dispatched_processes(make_process: MakeProcess) -> None:
    process = make_process()

    # A task id means "called from a worker": a stale message for a process nobody
    # started is refused.
    assert process.execute(task_id="stale") == status.PENDING
    assert ExampleProcess.objects.get(pk=process.pk).status == status.PENDING


def test_execute_on_an_unsaved_process_raises() -> None:
    with pytest.raises(ProcessNotSaved, match=r"cannot execute\(\) an unsaved ExampleProcess"):
        ExampleProcess(kind="succeed").execute()


def test_a_late_success_loses_to_a_cancel_during_the_run(
    make_process: MakeProcess, custom_run: CustomRun, backend: RecordingBackend
) -> None:
    def run(self: ExampleProcess) -> None:
        # Someone cancels while the run is going on; the run then returns normally.
        assert ExampleProcess.objects.get(pk=self.pk).cancel() is True

    process = make_process(custom_run(run))

    assert process.execute() == status.CANCELLED

    process.refresh_from_db()
    assert process.status == status.CANCELLED
    assert process.stopped_by == "cancel"
    assert len(backend.killed) == 1
    assert not any(line.startswith("succeeded") for line in messages(process))


def test_a_late_failure_loses_to_a_timeout(
    make_process: MakeProcess, custom_run: CustomRun
) -> None:
    def run(self: ExampleProcess) -> None:
        assert compare_and_set(self, [status.RUNNING], status.TIMED_OUT, stopped_by="watchdog")
        raise RuntimeError("too late")

    process = make_process(custom_run(run))

    assert process.execute() == status.TIMED_OUT
    process.refresh_from_db()
    assert process.exception == ""
    assert not any(line.startswith("failed") for line in messages(process))
