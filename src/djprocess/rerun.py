"""Running a process again: :func:`restart` (and ``start()`` on a process that failed or
timed out, as in 0.0.1).

A process that ended ``failed``, ``timed_out`` or ``cancelled`` *and is finished*
(``finished_at`` set: its run is over, any kill confirmed) can run again. One
compare-and-set moves it back to ``pending``, claims it for dispatch (``dispatched_at``)
and clears how the previous run ended; it is then dispatched like a first run. The same
guarantees hold as for a first run:

* two concurrent restarts: the ``UPDATE`` of exactly one matches, the other raises
  :class:`~djprocess.exceptions.ProcessNotStartable` and dispatches nothing;
* a process whose stop is still in progress (``cancelled``/``timed_out``, no
  ``finished_at`` yet) is refused, and a stop that completes late records its outcome only
  while the row is still in that stop (:func:`djprocess._transitions.finish`): a kill
  meant for the previous run is never recorded against the new one;
* ``attempts`` still counts the runs (a worker's claim increments it), and the log
  continues in sequence, with a marker line ``"attempt N: ..."`` before each new run.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.db.models import Q

from djprocess import status
from djprocess._dispatch import dispatch_claimed, dispatch_values, validate_timeout
from djprocess._transitions import compare_and_set, current_status
from djprocess.backends import get_backend
from djprocess.exceptions import ProcessNotSaved, ProcessNotStartable

if TYPE_CHECKING:
    from djprocess.models import BaseProcess

__all__ = ["CLEARED_ON_RESTART", "RESTARTABLE", "restart"]

#: Statuses a finished process can be restarted from.
RESTARTABLE: frozenset[str] = frozenset({status.FAILED, status.TIMED_OUT, status.CANCELLED})

#: Statuses from which ``start()`` re-runs a finished process, as 0.0.1's ``start()`` did
#: (a ``cancelled`` process is re-run only by an explicit :func:`restart`).
START_RERUNS: frozenset[str] = frozenset({status.FAILED, status.TIMED_OUT})

#: What a restart resets: how the previous run went and ended. ``attempts``, ``timeout``,
#: ``created`` and the log are kept.
CLEARED_ON_RESTART: dict[str, Any] = {
    "started_at": None,
    "finished_at": None,
    "worker_hostname": "",
    "worker_pid": None,
    "exception": "",
    "traceback": "",
    "stopped_by": "",
    "stop_signal": "",
    "termination": "",
    "progress_current": None,
    "progress_total": None,
    "deadline_at": None,
    "heartbeat_at": None,
}


def restart(process: BaseProcess, *, action: str = "restart") -> BaseProcess:
    """Run ``process`` again: it must have ended ``failed``, ``timed_out`` or ``cancelled``
    and be finished (``finished_at`` set).

    Persists ``process.timeout`` as set on the instance, logs ``"attempt N: ..."`` (N is
    the run about to start, ``attempts + 1``) and dispatches through the configured
    backend. Returns ``process``, refreshed (``pending``; already ended in eager mode).
    Raises :class:`~djprocess.exceptions.ProcessNotSaved`, :class:`ValidationError` (bad
    timeout) or :class:`~djprocess.exceptions.ProcessNotStartable` (any other status, a
    stop not yet confirmed, or another restart won the race); then nothing is dispatched.
    Raises ``DoesNotExist`` if the row was deleted.
    ``action`` names the caller in errors and in the marker line (``"start"`` when called
    from ``start()``). If the backend fails, the process is left ``pending`` and
    undispatched (``start()`` dispatches it) and the error propagates.
    """
    if process.pk is None:
        raise ProcessNotSaved(process, action)
    validate_timeout(process.timeout)
    backend = get_backend()
    row = (
        type(process)
        ._base_manager.filter(pk=process.pk)
        .values("status", "finished_at", "attempts")
        .get()
    )
    previous, finished_at = row["status"], row["finished_at"]
    won = (
        previous in RESTARTABLE
        and finished_at is not None
        and compare_and_set(
            process,
            [previous],
            status.PENDING,
            # The very run we read: exactly one of two concurrent restarts matches.
            where=Q(finished_at=finished_at),
            **CLEARED_ON_RESTART,
            **dispatch_values(process),
        )
    )
    if not won:
        found = current_status(process)
        raise ProcessNotStartable(process, action, found, _refusal(process, found))
    attempt = row["attempts"] + 1
    process.log(f"attempt {attempt}: {action}() after the previous run ended {previous}")
    return dispatch_claimed(process, backend)


def _refusal(process: BaseProcess, found: str) -> str:
    if found == status.SUCCEEDED:
        return "a succeeded process is not run again"
    if found in RESTARTABLE:
        process.refresh_from_db(fields=["finished_at"])
        if process.finished_at is None:
            return "its stop is not confirmed yet; restart once finished_at is set"
        return "another restart won"
    if found == status.PENDING:
        process.refresh_from_db(fields=["dispatched_at"])
        return "already dispatched" if process.dispatched_at else "not run yet: use start()"
    return "it is still running"
