"""Deprecated 0.0.1 API, kept working for one release: the ``mark_*()`` methods.

0.0.1's ``mark_running()``, ``mark_succeeded()``, ``mark_failed(error)``,
``mark_cancelled()`` and ``mark_timed_out()`` set ``status`` and called ``save()``. Here each
emits a :class:`DeprecationWarning` and makes the same change through djprocess's
compare-and-set transitions (never a plain ``save()`` of the status), so it obeys the same
rules as the rest of djprocess: a terminal status is final, and a call that loses a race
changes nothing and returns False. They will be removed in djprocess 0.2.

:class:`LegacyMarkMethods` is an abstract model without fields (a base of
:class:`~djprocess.models.BaseProcess`): it never appears in your migrations.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, cast

from django.db import models, router, transaction
from django.db.models import F
from django.utils import timezone

from djprocess import status

if TYPE_CHECKING:
    from djprocess.models import BaseProcess

__all__ = ["LegacyMarkMethods"]


def _warn(name: str, instead: str) -> None:
    warnings.warn(
        f"{name}() is deprecated since djprocess 0.1.0 and will be removed in 0.2: {instead}",
        DeprecationWarning,
        stacklevel=3,
    )


def _timeout_text(process: BaseProcess) -> str:
    """0.0.1's wording: ``"Process timed out after 5 minutes 3 seconds"``."""
    minutes, seconds = divmod(int(process.timeout.total_seconds()), 60)
    extra = f" {seconds} seconds" if seconds else ""
    return f"Process timed out after {minutes} minutes{extra}"


class LegacyMarkMethods(models.Model):
    """0.0.1's ``mark_*()`` methods, deprecated; each returns True if its transition won."""

    class Meta:
        abstract = True

    def mark_running(self) -> bool:
        """Deprecated: ``pending → running`` (``started_at`` = now, ``attempts`` + 1).
        djprocess's runner does this itself: call ``execute()`` or ``start()`` instead."""
        from djprocess._transitions import compare_and_set

        _warn("mark_running", "start() dispatches a process, execute() runs it here")
        return compare_and_set(
            self._process,
            [status.PENDING],
            status.RUNNING,
            started_at=timezone.now(),
            attempts=F("attempts") + 1,
        )

    def mark_succeeded(self) -> bool:
        """Deprecated: ``running → succeeded`` with ``finished_at``. The runner records
        success when ``run()`` returns."""
        from djprocess._transitions import compare_and_set

        _warn("mark_succeeded", "a run succeeds when run() returns")
        return compare_and_set(
            self._process, [status.RUNNING], status.SUCCEEDED, finished_at=timezone.now()
        )

    def mark_failed(self, error: str = "") -> bool:
        """Deprecated: ``pending``/``running → failed`` with ``exception = error`` and
        ``finished_at``. The runner records a failure when ``run()`` raises: raise instead.
        Called from outside the run, it does not stop the run: use ``cancel()``."""
        from djprocess._transitions import compare_and_set

        _warn("mark_failed", "raise an exception in run() (or cancel() from outside)")
        return compare_and_set(
            self._process,
            [status.PENDING, status.RUNNING],
            status.FAILED,
            exception=str(error)[:10_000],
            finished_at=timezone.now(),
        )

    def mark_cancelled(self) -> bool:
        """Deprecated: the same as ``cancel()``, which also stops a running process."""
        _warn("mark_cancelled", "use cancel()")
        return self._process.cancel()

    def mark_timed_out(self) -> bool:
        """Deprecated: end the process ``timed_out`` now, as its watchdog would. A
        ``pending`` one is finished at once; a ``running`` one is killed with escalation
        (this call waits for the kill). Logs 0.0.1's ``"Process timed out after …"``
        line. The watchdog does this by itself at ``started_at + timeout``."""
        from djprocess._transitions import compare_and_set
        from djprocess.backends import get_backend
        from djprocess.supervision.supervisor import kill_and_record

        _warn("mark_timed_out", "the watchdog times a process out at started_at + timeout")
        process = self._process
        text = _timeout_text(process)
        with transaction.atomic(using=router.db_for_write(type(process))):
            if compare_and_set(
                process,
                [status.PENDING],
                status.TIMED_OUT,
                stopped_by=status.Stopper.WATCHDOG.value,
                finished_at=timezone.now(),
            ):
                process.log(text, level="ERROR")
                return True
        if not compare_and_set(
            process, [status.RUNNING], status.TIMED_OUT, stopped_by=status.Stopper.WATCHDOG.value
        ):
            return False
        process.log(text, level="ERROR")
        kill_and_record(process, get_backend(), "timed out (mark_timed_out)")
        return True

    @property
    def _process(self) -> BaseProcess:
        return cast("BaseProcess", self)
