"""Exceptions raised by djprocess. Each docstring is the error's meaning."""

from __future__ import annotations

from typing import Any

__all__ = [
    "BackendError",
    "DjprocessError",
    "InvalidTransition",
    "KillControlError",
    "ProcessNotSaved",
    "ProcessNotStartable",
    "ProcessTerminated",
    "UnknownProcessModel",
]


class DjprocessError(Exception):
    """Base class of every djprocess error."""


class ProcessNotSaved(DjprocessError, ValueError):
    """The process has no primary key yet: save it (``objects.create()``) first."""

    def __init__(self, process: Any, action: str) -> None:
        self.process = process
        self.action = action
        super().__init__(
            f"cannot {action}() an unsaved {type(process).__name__}: "
            "save it first (e.g. Model.objects.create(...))"
        )


class InvalidTransition(DjprocessError, RuntimeError):
    """The process is not in a status that allows the requested action.

    A :class:`RuntimeError` too, as 0.0.1's ``start()`` and ``cancel()`` raised.

    Attributes: ``process``, ``action`` (e.g. ``"start"``) and ``status`` (the
    status found in the database when the action was refused).
    """

    def __init__(self, process: Any, action: str, status: str, detail: str = "") -> None:
        self.process = process
        self.action = action
        self.status = status
        label = f"{type(process).__name__} pk={process.pk!r}"
        msg = f"cannot {action}() {label}: its status is {status!r}"
        super().__init__(f"{msg} ({detail})" if detail else msg)


class ProcessNotStartable(InvalidTransition):
    """``start()`` or ``restart()`` was refused: the process is running, succeeded, already
    dispatched, or ended but its stop is not confirmed yet (no ``finished_at``)."""


class ProcessTerminated(BaseException):
    """Raised inside ``run()`` when the run receives SIGTERM.

    It derives from :class:`BaseException` (like :class:`KeyboardInterrupt`) so that
    ``except Exception`` blocks in user code do not swallow it, while ``finally``
    blocks and context managers still run.
    """

    def __init__(self, signum: int) -> None:
        self.signum = signum
        super().__init__(f"terminated by signal {signum}")


class BackendError(DjprocessError):
    """The worker backend could not do what was asked (broker down, no reply...)."""


class KillControlError(BackendError):
    """A kill control command got no usable reply from the worker."""


class UnknownProcessModel(DjprocessError, LookupError):
    """A task named a model that is not an installed ``BaseProcess`` subclass."""
