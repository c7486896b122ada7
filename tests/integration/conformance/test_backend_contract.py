"""The backend contract, run the same way against every backend on real workers.

A case is skipped only where the backend's ``supports_*`` flags say it cannot keep it.
W = the wait after each SIGTERM, N = the SIGTERMs sent before SIGKILL.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import psutil
import pytest
from django.db import transaction

from djprocess_example.models import ExampleProcess

from ..conftest import log_messages, reload, wait_finished, wait_for, wait_running
from .conftest import BackendCluster

pytestmark = [pytest.mark.integration, pytest.mark.celery]

#: Seconds for a worker to take a task and start the run (a sandbox takes longer).
PICKUP = 10.0
#: Timeout of the runs that overrun: long enough for the worker to reach run().
RUN_TIMEOUT = 5.0
#: ... and for a sandbox to start first (``runsc`` takes seconds on a loaded machine; with
#: 5 s a SIGTERM once arrived before run() began, so no ``finally`` ran: CI, stop 18).
SANDBOX_RUN_TIMEOUT = 20.0


def launch(kind: str, seconds: float = 1.0, timeout: float | None = None, **fields: Any) -> Any:
    process = ExampleProcess.objects.create(kind=kind, seconds=seconds, **fields)
    if timeout is not None:
        process.timeout = timedelta(seconds=timeout)
    process.start()
    return process


def run_timeout(bc: BackendCluster) -> float:
    return SANDBOX_RUN_TIMEOUT if bc.name == "gvisor" else RUN_TIMEOUT


def reached_run(process: Any, message: str, bc: BackendCluster) -> None:
    """Wait for the run to log ``message`` from inside run(), before its timeout."""
    wait_for(
        lambda: any(m.startswith(message) for m in log_messages(process)),
        run_timeout(bc),
        f"the run to log {message!r} before its timeout",
    )


def stop_time(bc: BackendCluster) -> float:
    return bc.cluster.retries * bc.cluster.wait + PICKUP


def needs(bc: BackendCluster, flag: str) -> None:
    if not getattr(bc.backend, flag):
        pytest.skip(f"{bc.name}: {flag} is False")


def lines(process: Any) -> list[tuple[str, str]]:
    return [(line.level, line.message) for line in reload(process).logs.order_by("sequence")]


def test_a_run_succeeds_with_its_log_in_order(bc: BackendCluster) -> None:
    process = wait_finished(launch("succeed", seconds=0.3, lines=3), PICKUP + 10)
    assert process.status == "succeeded", process.exception
    messages = log_messages(process)
    assert messages[0].startswith("started on ")
    body = [m for m in messages if m.startswith(("working on", "all items", "a library"))]
    assert body == [
        "working on item 1/3",
        "working on item 2/3",
        "working on item 3/3",
        "a library logger speaking from inside run()",
        "all items done",
    ]
    assert messages[-1].startswith("succeeded in ")
    assert (process.progress_current, process.progress_total) == (3, 3)


def test_a_run_fails_with_its_traceback(bc: BackendCluster) -> None:
    process = wait_finished(launch("fail"), PICKUP + 10)
    assert process.status == "failed"
    assert process.exception == "RuntimeError: example failure"
    assert "_run_fail" in process.traceback
    assert "Traceback" in process.traceback
    assert "about to fail" in log_messages(process)


def test_timeout_with_sigterm_obeyed(bc: BackendCluster) -> None:
    needs(bc, "supports_timeout")
    process = wait_running(launch("sleep", seconds=60, timeout=run_timeout(bc)), PICKUP)
    reached_run(process, "sleeping 60.0s", bc)
    process = wait_finished(process, run_timeout(bc) + stop_time(bc))
    assert process.status == "timed_out"
    assert process.termination == f"exited after SIGTERM 1/{bc.cluster.retries}"
    assert "finally block ran" in log_messages(process)


def test_timeout_with_sigterm_ignored(bc: BackendCluster) -> None:
    needs(bc, "supports_timeout")
    process = wait_running(launch("ignore_term", seconds=60, timeout=run_timeout(bc)), PICKUP)
    reached_run(process, "ignoring SIGTERM", bc)
    process = wait_finished(process, run_timeout(bc) + stop_time(bc))
    assert any(m.startswith("ignoring SIGTERM") for m in log_messages(process))
    assert process.status == "timed_out"
    assert process.stop_signal == "SIGKILL"
    assert process.termination == f"SIGKILL after {bc.cluster.retries} SIGTERM"


def test_cancel_while_pending_never_runs_it(bc: BackendCluster) -> None:
    with transaction.atomic():
        process = launch("succeed", seconds=0.1)
        assert process.cancel() is True
    # A process started after it on the same queue has run: the cancelled one was seen.
    wait_finished(launch("quiet", seconds=0.1), PICKUP + 10)
    row = reload(process)
    assert row.status == "cancelled"
    assert row.finished_at is not None
    assert not any(m.startswith("started on") for m in log_messages(process))


def test_cancel_while_running(bc: BackendCluster) -> None:
    needs(bc, "supports_cancel")
    process = wait_running(launch("sleep", seconds=60), PICKUP)
    wait_for(lambda: "sleeping 60.0s" in log_messages(process), PICKUP, "the run to log")
    assert ExampleProcess.objects.get(pk=process.pk).cancel() is True
    row = wait_finished(process, stop_time(bc))
    assert row.status == "cancelled"
    assert "finally block ran" in log_messages(process)


def test_cancel_when_finished_changes_nothing(bc: BackendCluster) -> None:
    process = wait_finished(launch("quiet", seconds=0.1), PICKUP + 10)
    assert process.status == "succeeded"
    assert ExampleProcess.objects.get(pk=process.pk).cancel() is False
    assert reload(process).status == "succeeded"


def _sleeps(seconds: int) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        cmdline = proc.info["cmdline"] or []
        if cmdline[-1:] == [str(seconds)] and any(p.endswith("sleep") for p in cmdline[:-1]):
            found.append(proc)
    return found


@pytest.mark.parametrize("how", ["timeout", "cancel"])
def test_nothing_the_run_started_is_left_alive(bc: BackendCluster, how: str) -> None:
    needs(bc, "supports_stopping_descendants")
    seconds = 307 if how == "timeout" else 311
    timeout = run_timeout(bc) if how == "timeout" else None
    process = wait_running(launch("shell_sleep", seconds=seconds, timeout=timeout), PICKUP)
    wait_for(lambda: any("running: sleep" in m for m in log_messages(process)), PICKUP, "the shell")
    if how == "cancel":
        assert ExampleProcess.objects.get(pk=process.pk).cancel() is True
    row = wait_finished(process, (timeout or 0) + stop_time(bc))
    assert row.status == ("timed_out" if how == "timeout" else "cancelled")
    assert not _sleeps(seconds), f"left running: {_sleeps(seconds)}"
    bc.assert_clean()


def test_output_becomes_log_lines_in_order(bc: BackendCluster) -> None:
    process = wait_finished(launch("print", seconds=10, lines=300), PICKUP + 30)
    assert process.status == "succeeded", process.exception
    found = lines(process)
    if not bc.backend.supports_output_capture:
        # The flag is honest: printed output goes to the worker's log, not the process's.
        assert not [m for _, m in found if m.startswith(("stdout line", "stderr line"))]
        return
    out = [m.split(" x")[0] for level, m in found if m.startswith("stdout line")]
    assert out == [f"stdout line {n}" for n in range(300)]
    assert all(level == "INFO" for level, m in found if m.startswith("stdout line"))
    err = [(level, m) for level, m in found if m.startswith("stderr line")]
    assert err == [("WARNING", f"stderr line {n}") for n in range(0, 300, 10)]
    assert found[-1][1].startswith("succeeded in ")


def test_ten_megabytes_of_output_do_not_block_the_run(bc: BackendCluster) -> None:
    # 100 lines of 100 kB: the pipe's 64 kB buffer is full many times over.
    process = wait_finished(launch("print", seconds=100_000, lines=100, timeout=60), PICKUP + 60)
    assert process.status == "succeeded", process.exception
    captured = sum(m.startswith("stdout line") for m in log_messages(process))
    if bc.backend.supports_output_capture:
        assert captured >= 100
    else:
        assert captured == 0


@pytest.mark.parametrize(
    ("kind", "reason"),
    [("exit", "exited with code 3"), ("crash", "was killed by SIGSEGV")],
)
def test_a_run_whose_interpreter_dies_fails_and_the_pool_goes_on(
    bc: BackendCluster, kind: str, reason: str
) -> None:
    process = wait_finished(launch(kind), PICKUP + 10)
    assert process.status == "failed"
    assert reason in process.exception, process.exception
    assert wait_finished(launch("quiet", seconds=0.1), PICKUP + 10).status == "succeeded"


def test_a_run_killed_from_outside_fails_with_the_signal_and_the_pool_goes_on(
    bc: BackendCluster,
) -> None:
    """What the OOM killer does: SIGKILL to the run's process (the pool child's child: the
    run child, the interpreter, or ``runsc run`` with its attached sandbox)."""
    process = wait_running(launch("sleep", seconds=60), PICKUP)
    wait_for(lambda: "sleeping 60.0s" in log_messages(process), PICKUP, "the run to log")
    pool_child = psutil.Process(reload(process).worker_pid)
    (run,) = wait_for(pool_child.children, PICKUP, "the run's process")
    run.kill()
    row = wait_finished(process, PICKUP)
    assert row.status == "failed"
    assert "killed by SIGKILL" in row.exception, row.exception
    assert wait_finished(launch("quiet", seconds=0.1), PICKUP + 10).status == "succeeded"
