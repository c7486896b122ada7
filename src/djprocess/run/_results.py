"""The closed sets of the worker side: how a run ended, and why its supervisor stopped it.

A leaf module (no Django import), read by the run child (:mod:`djprocess.run.child`, which
reports a :class:`RunResult` on its report pipe), the local supervisor that reads the report
back and stops runs (:mod:`djprocess.run.localsupervisor`, :mod:`djprocess.run._statuswatcher`)
and :mod:`djprocess.run.runner`, which records both. Both are :class:`enum.StrEnum`: a member
is equal to its value, the string on the wire and in the log.
"""

from __future__ import annotations

import enum

__all__ = ["RunResult", "StopReason"]


class RunResult(enum.StrEnum):
    """How ``run()`` ended, as the process that ran it saw it (the report's ``"result"``)."""

    SUCCEEDED = "succeeded"
    FAILED = "failed"
    #: Stopped by a SIGTERM that djprocess did not send.
    TERMINATED = "terminated"


class StopReason(enum.StrEnum):
    """Why a supervisor stopped a run (besides a status the row left ``running`` for, such
    as ``cancelled``, which is given as that status)."""

    #: The run passed its deadline: the process becomes ``timed_out``.
    TIMEOUT = "timeout"
    #: The worker is shutting down: the process becomes ``failed``.
    SHUTDOWN = "shutdown"
    #: The process's row was deleted while it ran.
    DELETED = "deleted"
