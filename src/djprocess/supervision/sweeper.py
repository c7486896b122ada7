"""The sweeper: every ``DJPROCESS_SWEEP_SECONDS``,
:func:`djprocess.supervision.supervisor.check` each process whose ``next_check_at`` has come.

One indexed query per process model and sweep, whatever the number of queued processes.
It runs where the supervision runs: a Celery worker consuming the supervisor queue starts
one (:class:`Sweeper`, a thread of the worker's main process), and ``manage.py
djprocess_supervise`` runs one in the foreground for other set-ups. Several sweepers
may run at once: every decision is a compare-and-set, the second one is a no-op.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections import Counter
from typing import TYPE_CHECKING

from django.apps import apps
from django.db import DatabaseError, connections

from djprocess import _clock as clock
from djprocess.backends import get_backend
from djprocess.conf import settings
from djprocess.supervision.supervisor import Outcome, check

if TYPE_CHECKING:
    from djprocess.models import BaseProcess

logger = logging.getLogger("djprocess.supervision.sweeper")

__all__ = ["Sweeper", "sweep"]

#: Rows checked per model and sweep at most (the rest wait for the next sweep).
BATCH = 500


def process_models() -> list[type[BaseProcess]]:
    """Every installed, concrete ``BaseProcess`` model."""
    from djprocess.models import BaseProcess

    return [
        model
        for model in apps.get_models()
        if issubclass(model, BaseProcess) and not model._meta.proxy
    ]


def sweep(limit: int = BATCH) -> Counter[Outcome]:
    """Check every process that is due now; returns how many got each outcome.

    Raises :class:`~django.db.DatabaseError` if the database cannot be read.
    """
    backend = get_backend()
    now = clock.utc_now()
    done: Counter[Outcome] = Counter()
    for model in process_models():
        due = list(
            model._base_manager.filter(next_check_at__lte=now)
            .order_by("next_check_at")
            .values_list("pk", flat=True)[:limit]
        )
        for pk in due:
            process = model()
            process.pk = pk  # check() reads the row itself
            try:
                done[check(process, backend)] += 1
            except model.DoesNotExist:
                continue
            except DatabaseError:
                raise
            except Exception:
                logger.exception("checking %s pk=%s failed", model._meta.label, pk)
    return done


class Sweeper(threading.Thread):
    """A daemon thread that sweeps until :meth:`stop`; database errors are logged and
    the next sweep tries again with a fresh connection."""

    def __init__(self, interval: float | None = None) -> None:
        super().__init__(name="djprocess-sweeper", daemon=True)
        self.interval = interval
        self._stopped = threading.Event()
        self.sweeps = 0

    def stop(self, timeout: float | None = 5.0) -> None:
        """Ask the thread to end and wait up to ``timeout`` seconds for it."""
        self._stopped.set()
        if self.is_alive():
            self.join(timeout)

    def run(self) -> None:
        failing = False
        try:
            while not self._stopped.wait(self.interval or settings.SWEEP_SECONDS):
                try:
                    outcomes = sweep()
                    self.sweeps += 1
                    if failing:
                        logger.warning("djprocess sweeper: database back")
                        failing = False
                    acted = {k.value: v for k, v in outcomes.items() if k is not Outcome.NOOP}
                    if acted:
                        logger.info("djprocess sweeper: %s", acted)
                except Exception as exc:
                    if not failing:
                        logger.warning("djprocess sweeper: %s; retrying", exc, exc_info=True)
                    failing = True
                    for connection in connections.all(initialized_only=True):
                        with contextlib.suppress(Exception):
                            connection.close()
        finally:
            connections.close_all()
