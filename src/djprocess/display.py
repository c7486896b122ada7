"""How a process is shown to people: durations, progress and how it ended, as plain text.

Shared by the admin, the example web UI and the management commands. Every function returns
plain text (never HTML): callers escape it where they put it.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from djprocess import status

if TYPE_CHECKING:
    from djprocess.models import BaseProcess

__all__ = ["STATUS_COLOURS", "ended_how", "format_duration", "format_progress"]

#: Bulma colour class of each status (the admin uses the same names for its badges).
STATUS_COLOURS: dict[str, str] = {
    status.PENDING: "is-light",
    status.RUNNING: "is-info",
    status.SUCCEEDED: "is-success",
    status.FAILED: "is-danger",
    status.CANCELLED: "is-warning",
    status.TIMED_OUT: "is-danger is-light",
}


def format_duration(value: timedelta | None) -> str:
    """``"4.2s"`` under a minute, ``"3m 07s"`` under an hour, ``"2h 03m 07s"`` above;
    ``""`` for None. Negative values (clock skew) show as ``"0.0s"``."""
    if value is None:
        return ""
    seconds = max(0.0, value.total_seconds())
    if seconds < 60:
        return f"{seconds:.1f}s"
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m {secs:02d}s"
    return f"{minutes}m {secs:02d}s"


def format_progress(process: BaseProcess) -> str:
    """``"45% (9/20)"``, ``"9 done"`` with no known total, ``""`` with no progress."""
    if process.progress_current is None:
        return ""
    fraction = process.progress
    if fraction is None:
        return f"{process.progress_current} done"
    return f"{fraction:.0%} ({process.progress_current}/{process.progress_total})"


def ended_how(process: BaseProcess) -> str:
    """How a finished process ended, in one line: ``""`` while it is pending or running
    (and for a plain success), else who stopped it, how, and the exception's first line,
    e.g. ``"by watchdog; SIGKILL after 3 SIGTERM"`` or ``"RuntimeError: example failure"``."""
    if process.status not in status.TERMINAL:
        return ""
    parts = []
    if process.stopped_by:
        parts.append(f"by {process.stopped_by}")
    if process.termination:
        parts.append(process.termination)
    lines = process.exception.strip().splitlines()
    if lines:
        parts.append(lines[0])
    return "; ".join(parts)
