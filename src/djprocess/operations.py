"""Start, cancel and re-run processes one by one, saying what happened to each.

What the admin actions, the example web UI and the management commands share. Each
function takes one process and returns an :class:`Outcome`; :class:`Tally` counts
outcomes over many processes and words them (``"3 cancelled, 1 already finished"``).
Nothing here changes a status itself: it calls the public model methods
(:meth:`~djprocess.models.BaseProcess.start`, :meth:`~djprocess.models.BaseProcess.cancel`,
``restart()``).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from django.core.exceptions import ValidationError

from djprocess import status
from djprocess.exceptions import InvalidTransition

if TYPE_CHECKING:
    from djprocess.models import BaseProcess

logger = logging.getLogger("djprocess.operations")

__all__ = [
    "ACTIONS",
    "FUNCTIONS",
    "Outcome",
    "Tally",
    "apply",
    "cancel",
    "offered",
    "restart",
    "start",
]

#: The actions, by name: what a form posts and a command is called with.
ACTIONS = ("start", "cancel", "restart")


@dataclass(frozen=True, kw_only=True)
class Outcome:
    """What one action did to one process.

    ``done`` is True when the action took effect; ``phrase`` is how a tally counts it
    (``"started"``, ``"already finished"``, ``"not re-run: running"``, ``"error: …"``).
    """

    done: bool
    phrase: str


def _refused(exc: InvalidTransition, action: str) -> Outcome:
    if exc.status in status.TERMINAL and action == "start":
        return Outcome(done=False, phrase="already finished")
    if action == "start":
        return Outcome(done=False, phrase="already started")
    return Outcome(done=False, phrase=f"not re-run: {exc.status}")


def _error(exc: BaseException) -> Outcome:
    return Outcome(done=False, phrase=f"error: {type(exc).__name__}")


def _attempt(process: BaseProcess, action: str, done: str) -> Outcome:
    """Call ``process.<action>()``: ``done``, or why not. A refusal, a bad timeout or an
    error is an outcome, never raised; an error is logged with its traceback."""
    try:
        result = getattr(process, action)()
    except InvalidTransition as exc:
        return _refused(exc, action)
    except ValidationError as exc:
        return Outcome(done=False, phrase=f"invalid: {'; '.join(exc.messages)}")
    except Exception as exc:
        logger.exception("%s of %s pk=%s failed", action, process._meta.label, process.pk)
        return _error(exc)
    if result is False:  # cancel() of a process that had already ended
        return Outcome(done=False, phrase="already finished")
    return Outcome(done=True, phrase=done)


def start(process: BaseProcess) -> Outcome:
    """Call ``process.start()``: ``"started"``, or why not (never raises for a refusal,
    a bad timeout or a backend error; the error is logged with its traceback)."""
    return _attempt(process, "start", "started")


def cancel(process: BaseProcess) -> Outcome:
    """Call ``process.cancel()``: ``"cancelled"`` or ``"already finished"`` (or an error).

    Waits for the kill of a running process (seconds, see
    :func:`djprocess.lifecycle.cancel`)."""
    return _attempt(process, "cancel", "cancelled")


def restart(process: BaseProcess) -> Outcome:
    """Call ``process.restart()`` (re-run a failed, timed-out or cancelled process):
    ``"re-run"``, or why not (``"not re-run: running"``)."""
    return _attempt(process, "restart", "re-run")


def offered(process: BaseProcess) -> list[str]:
    """The actions that make sense for ``process`` as last loaded, in :data:`ACTIONS` order:
    ``start`` while pending and undispatched, ``cancel`` while pending or running,
    ``restart`` once it ended failed, timed out or cancelled and is finished."""
    names = []
    if process.status == status.PENDING and process.dispatched_at is None:
        names.append("start")
    if process.status in status.ACTIVE:
        names.append("cancel")
    if process.can_restart:
        names.append("restart")
    return names


#: The functions behind :data:`ACTIONS`.
FUNCTIONS: dict[str, Callable[[BaseProcess], Outcome]] = {
    "start": start,
    "cancel": cancel,
    "restart": restart,
}


@dataclass
class Tally:
    """Outcomes counted by phrase, in the order first seen."""

    counts: Counter[str] = field(default_factory=Counter)
    done: int = 0
    total: int = 0
    done_phrases: set[str] = field(default_factory=set)

    def add(self, outcome: Outcome) -> None:
        self.counts[outcome.phrase] += 1
        if outcome.done:
            self.done_phrases.add(outcome.phrase)
        self.done += outcome.done
        self.total += 1

    @property
    def errors(self) -> int:
        """How many ended in an error (not a refusal)."""
        return sum(n for phrase, n in self.counts.items() if phrase.startswith("error"))

    def summary(self) -> str:
        """``"3 cancelled, 1 already finished"`` (what was done first, then what was not, each
        in the order first seen); ``"nothing selected"`` for none."""
        if not self.total:
            return "nothing selected"
        ordered = sorted(self.counts.items(), key=lambda item: item[0] not in self.done_phrases)
        return ", ".join(f"{n} {phrase}" for phrase, n in ordered)


def apply(action: str, processes: Iterable[BaseProcess]) -> Tally:
    """Run ``action`` (one of :data:`ACTIONS`) on each process in turn; returns the tally.

    Raises :class:`ValueError` for an unknown action."""
    try:
        function = FUNCTIONS[action]
    except KeyError:
        raise ValueError(f"unknown action {action!r}: use one of {', '.join(ACTIONS)}") from None
    tally = Tally()
    for process in processes:
        tally.add(function(process))
    return tally
