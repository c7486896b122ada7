"""What runs inside the *run child*: the process forked to call ``run()``.

The process that claimed a run (a Celery pool child) forks this child and supervises it
(:mod:`djprocess.run.localsupervisor`). The child:

* leads its own process group (``setpgid``), so one ``killpg`` reaches it and everything
  it starts (it stays in the worker's session: tools that look for what a worker left
  behind still see it; a terminal's Ctrl-C does not reach it), and dies with its
  supervisor (``PR_SET_PDEATHSIG``);
* turns SIGTERM into :class:`~djprocess.exceptions.ProcessTerminated` from its first
  instruction on, so a stop is never "remembered but ignored";
* tags its PostgreSQL sessions (``application_name``) so the supervisor can end the
  statements it leaves running on the server;
* reports how ``run()`` ended as one JSON line on a pipe, and exits with
  :func:`os._exit`: it never returns into the worker's code.

Signal handlers, the signal mask and timers a run installs die with this process: they
cannot leak into the next task.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
import traceback
from collections.abc import Callable, Iterable
from types import FrameType
from typing import TYPE_CHECKING, Any, NoReturn

from djprocess.exceptions import ProcessTerminated
from djprocess.run import relay
from djprocess.run._results import RunResult

if TYPE_CHECKING:
    from djprocess.models import BaseProcess

__all__ = ["RUN_ENV", "serve"]

_PR_SET_PDEATHSIG = 1
_PR_SET_CHILD_SUBREAPER = 36

#: The environment variable every process of a run carries: the run's tag (see
#: :func:`djprocess.run.localsupervisor.run_tag`).
RUN_ENV = "DJP_RUN_TAG"
#: ``(model label, pk)`` of the run this process is the run child of, else None.
current_run: tuple[str, Any] | None = None
#: The last SIGTERM received (a run that swallows it is still stopped by a signal).
_received: int | None = None


def prctl(option: int, value: int) -> bool:
    """Call Linux ``prctl(option, value)``; False where it is not available."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return bool(libc.prctl(option, value, 0, 0, 0) == 0)
    except (OSError, AttributeError):  # pragma: no cover - not Linux
        return False


def become_subreaper() -> bool:
    """Make this process adopt the orphans of its descendants (``PR_SET_CHILD_SUBREAPER``),
    so a process a run started and left behind (``sh -c "sleep 300 &"``, a double fork, a
    ``setsid`` daemon) stays findable among this process's descendants."""
    return prctl(_PR_SET_CHILD_SUBREAPER, 1)


def is_current(process: BaseProcess) -> bool:
    """True inside the run child that runs ``process``."""
    return current_run is not None and current_run == (process._meta.label_lower, process.pk)


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    global _received
    _received = signum
    # Each SIGTERM raises again, so a finally block that hangs is interrupted by the next.
    raise ProcessTerminated(signum)


def _tag_postgresql(tag: str) -> None:
    from django.db.backends.signals import connection_created

    def tag_session(sender: Any, connection: Any, **kwargs: Any) -> None:
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT set_config('application_name', %s, false)", [tag])

    connection_created.connect(tag_session, weak=False, dispatch_uid="djprocess-run-tag")


def main(
    process: BaseProcess,
    report_fd: int,
    *,
    tag: str,
    parent_pid: int,
    after_fork: Iterable[Callable[[], None]] = (),
) -> NoReturn:
    """Run ``process.run()`` in this freshly forked child and ``os._exit``. Never returns.

    Writes one JSON line to ``report_fd`` (``"result"`` is a
    :class:`~djprocess.run._results.RunResult`): ``{"result": "succeeded"}``,
    ``{"result": "failed", "exception": str, "traceback": str}`` or
    ``{"result": "terminated", "signum": int}``.
    """
    serve(process, report_fd, tag=tag, parent_pid=parent_pid, before_run=after_fork)


def serve(
    process: BaseProcess,
    report_fd: int,
    *,
    tag: str,
    parent_pid: int | None,
    before_run: Iterable[Callable[[], None]] = (),
    own_group: bool = True,
) -> NoReturn:
    """Be the process of ``process``'s run: call ``run()``, report, ``os._exit``.

    Shared by the forked run child (:func:`main`) and the interpreter that
    ``djprocess_subprocess`` starts. ``own_group``: lead a new process group (a process
    started in a session of its own already does). ``parent_pid``: die with that
    supervisor (``PR_SET_PDEATHSIG``); None inside a sandbox, which has no such parent.
    ``tag``: the PostgreSQL ``application_name`` of this run's sessions ("" for none).
    The report is one JSON line on ``report_fd`` (see :func:`main`).
    """
    global current_run
    code = 0
    try:
        # The supervisor launched us with SIGTERM blocked: one sent already is
        # delivered here, once the handler that turns it into ProcessTerminated is in place.
        signal.signal(signal.SIGTERM, _on_sigterm)
        signal.pthread_sigmask(signal.SIG_SETMASK, [])
        if own_group:
            os.setpgid(0, 0)
        if parent_pid is not None:
            prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
            if os.getppid() != parent_pid:  # the supervisor died before prctl took effect
                os._exit(70)
        current_run = (process._meta.label_lower, process.pk)
        # Inherited by everything the run starts: lets a worker find them all if this
        # process's supervisor dies (see localsupervisor.stop_run_everywhere).
        if tag:
            os.environ[RUN_ENV] = tag
        for hook in before_run:
            hook()
        if tag:
            _tag_postgresql(tag)
        report = _run(process)
    except ProcessTerminated as exc:
        report = {"result": RunResult.TERMINATED.value, "signum": exc.signum}
    except BaseException as exc:  # noqa: BLE001 - everything is reported, nothing escapes
        report = _failure(exc)
        code = 1
    # Nothing may interrupt the report or the goodbye to the database.
    signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGTERM])
    with contextlib.suppress(BaseException):
        # What run() printed and Python still buffers: before the outcome.
        sys.stdout.flush()
        sys.stderr.flush()
    with contextlib.suppress(BaseException):
        relay.send_report(report_fd, report)
    with contextlib.suppress(BaseException):
        from django.db import connections

        connections.close_all()
    os._exit(code)


def _run(process: BaseProcess) -> dict[str, Any]:
    from djprocess.logs import capture as logcapture

    try:
        with logcapture.capture(process):
            process.run()
    except ProcessTerminated as exc:
        return {"result": RunResult.TERMINATED.value, "signum": exc.signum}
    except BaseException as exc:  # noqa: BLE001 - a run's every failure is recorded
        return _failure(exc)
    if _received is not None:
        # run() swallowed the SIGTERM and returned: still stopped by a signal.
        return {"result": RunResult.TERMINATED.value, "signum": _received}
    return {"result": RunResult.SUCCEEDED.value}


def _failure(exc: BaseException) -> dict[str, Any]:
    return {
        "result": RunResult.FAILED.value,
        "exception": f"{type(exc).__name__}: {exc}"[:10_000],
        "traceback": "".join(traceback.format_exception(exc)),
    }
