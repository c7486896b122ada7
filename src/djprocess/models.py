"""The abstract models: subclass :class:`BaseProcess` and :class:`BaseProcessLog`.

::

    class ExportProcess(BaseProcess):
        path = models.CharField(max_length=255)

        def run(self):
            self.log(f"Exporting {self.path}")

    class ExportProcessLog(BaseProcessLog):
        process = models.ForeignKey(ExportProcess, on_delete=models.CASCADE, related_name="logs")
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from django.core.paginator import Page
from django.db import models
from django.utils import timezone
from model_utils.models import StatusModel, TimeStampedModel

from djprocess import lifecycle, logs, runner
from djprocess import status as statuses
from djprocess.conf import settings

#: Fields only djprocess writes (through compare-and-set). ``save()`` on an
#: existing row never writes them, so a stale instance cannot undo a transition.
MANAGED_FIELDS = frozenset(
    {
        "status", "status_changed", "dispatched_at", "started_at", "finished_at",
        "process_task_id", "watchdog_task_id", "worker_hostname", "worker_pid", "attempts",
        "exception", "traceback", "stopped_by", "stop_signal", "termination", "log_sequence",
        "progress_current", "progress_total",
    }
)

DEFAULT_TIMEOUT = timedelta(minutes=20)


class BaseProcess(TimeStampedModel, StatusModel):
    """A long-running job tracked in the database. Override :meth:`run`.

    Status (``status``, a django-model-utils ``StatusField``; ``status_changed`` is
    when it last changed): ``pending`` → ``running`` → ``succeeded`` / ``failed``;
    ``cancelled`` and ``timed_out`` from ``pending`` or ``running``. Terminal
    statuses are final.
    """

    STATUS = statuses.STATUS

    timeout = models.DurationField(
        default=DEFAULT_TIMEOUT, help_text="How long run() may take once started."
    )
    dispatched_at = models.DateTimeField(null=True, blank=True, editable=False)
    started_at = models.DateTimeField(null=True, blank=True, editable=False)
    finished_at = models.DateTimeField(null=True, blank=True, editable=False)
    process_task_id = models.CharField(max_length=255, blank=True, default="", editable=False)
    watchdog_task_id = models.CharField(max_length=255, blank=True, default="", editable=False)
    worker_hostname = models.CharField(max_length=255, blank=True, default="", editable=False)
    worker_pid = models.PositiveIntegerField(null=True, blank=True, editable=False)
    attempts = models.PositiveIntegerField(default=0, editable=False)
    exception = models.TextField(blank=True, default="", editable=False)
    traceback = models.TextField(blank=True, default="", editable=False)
    stopped_by = models.CharField(
        max_length=32, blank=True, default="", editable=False,
        help_text="Who stopped it: 'watchdog', 'cancel', 'worker' (lost) or 'signal'.",
    )
    stop_signal = models.CharField(max_length=16, blank=True, default="", editable=False)
    termination = models.CharField(
        max_length=255, blank=True, default="", editable=False,
        help_text="How the run was stopped, e.g. 'SIGKILL after 3 SIGTERM'.",
    )
    log_sequence = models.PositiveBigIntegerField(
        default=0, editable=False, help_text="Sequence of the last log line (= line count)."
    )
    progress_current = models.PositiveBigIntegerField(null=True, blank=True, editable=False)
    progress_total = models.PositiveBigIntegerField(null=True, blank=True, editable=False)

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return f"{type(self).__name__} #{self.pk} ({self.status})"

    # -- what subclasses override -------------------------------------------------

    def run(self) -> None:
        """The work. Runs on a worker inside :meth:`execute`; raise to fail.

        SIGTERM from a kill arrives here as :class:`~djprocess.exceptions.ProcessTerminated`
        (a ``BaseException``), so ``finally`` blocks run.
        """
        raise NotImplementedError(f"{type(self).__name__}.run() is not implemented")

    # -- lifecycle ---------------------------------------------------------------

    def start(self) -> BaseProcess:
        """Dispatch :meth:`run` to a worker and schedule the watchdog.

        See :func:`djprocess.lifecycle.start` for errors. Returns ``self``, refreshed.
        """
        return lifecycle.start(self)

    def cancel(self) -> bool:
        """Stop the process in any state. See :func:`djprocess.lifecycle.cancel`."""
        return lifecycle.cancel(self)

    def execute(self, *, task_id: str = "", hostname: str = "") -> str:
        """Run the process here and now (what a worker calls). Returns the final status.

        See :func:`djprocess.runner.execute`.
        """
        return runner.execute(self, task_id=task_id, hostname=hostname)

    def timeout_seconds(self) -> float:
        """``timeout`` in seconds, as a float (sub-second values kept)."""
        return self.timeout.total_seconds()

    @property
    def is_terminal(self) -> bool:
        """True once the status is final (as last loaded)."""
        return self.status in statuses.TERMINAL

    @property
    def is_finished(self) -> bool:
        """True once the run is really over (as last loaded): ``finished_at`` is set.

        A process cancelled or timed out while running is terminal at once, but
        finished only after its kill completed.
        """
        return self.finished_at is not None

    @property
    def duration(self) -> timedelta | None:
        """Time from start to finish (or to now while running); None if never started."""
        if self.started_at is None:
            return None
        return (self.finished_at or timezone.now()) - self.started_at

    # -- logs --------------------------------------------------------------------

    @classmethod
    def log_model(cls) -> tuple[type[BaseProcessLog], str]:
        """The ``BaseProcessLog`` subclass pointing at this model and its foreign key name.

        Raises :class:`LookupError` if there is none.
        """
        for relation in cls._meta.related_objects:
            related = relation.related_model
            if isinstance(related, type) and issubclass(related, BaseProcessLog):
                return related, relation.field.name
        raise LookupError(
            f"{cls.__name__} has no log model: define a BaseProcessLog subclass with "
            f"process = models.ForeignKey({cls.__name__}, related_name='logs', ...)"
        )

    def log(
        self, message: Any, level: str | int = "INFO", extra: Mapping[str, Any] | None = None
    ) -> int:
        """Append one line to this process's log; returns its ``sequence`` (1, 2, …).

        ``level`` is a logging level name (``"INFO"``) or number; ``extra`` a JSON-
        serialisable mapping stored with the line. Raises :class:`ValueError` for an
        unknown level.
        """
        return logs.append(self, [logs.LogEntry(message=message, level=level, extra=extra)])[0]

    def log_many(self, entries: list[logs.LogEntry]) -> list[int]:
        """Append several lines in one round trip, in order; returns their sequences."""
        return logs.append(self, entries)

    def paginate_logs(self, page: int | str = 1, per_page: int = 50) -> Page:
        """Page ``page`` (1-based, or ``"last"``) of the log, ``per_page`` lines each.

        Returns a Django :class:`~django.core.paginator.Page` of log entries in
        sequence order. Raises ``PageNotAnInteger``/``EmptyPage`` as Django's
        paginator does, and :class:`ValueError` if ``per_page`` is not an integer in
        ``1..DJPROCESS_LOG_MAX_PER_PAGE``. Queries do not grow with the log's size.
        """
        return logs.paginate(self, page, per_page, settings.LOG_MAX_PER_PAGE)

    def logs_after(self, sequence: int = 0, limit: int = 100) -> list[BaseProcessLog]:
        """Lines after ``sequence`` (at most ``limit``), for following a running process."""
        return logs.tail(self, after=sequence, limit=limit)

    # -- persistence -------------------------------------------------------------

    def save(self, *args: Any, **kwargs: Any) -> None:
        """Save user fields. On an existing row the djprocess-managed fields
        (:data:`MANAGED_FIELDS`) are never written: they change only by transition."""
        if not self._state.adding and self.pk is not None:
            update_fields = kwargs.get("update_fields")
            if update_fields is None:
                update_fields = [
                    f.name for f in self._meta.concrete_fields
                    if not f.primary_key and f.name not in MANAGED_FIELDS
                ]
            kwargs["update_fields"] = [f for f in update_fields if f not in MANAGED_FIELDS]
        super().save(*args, **kwargs)


class BaseProcessLog(models.Model):
    """One log line of a process. Subclasses add
    ``process = models.ForeignKey(<Process>, on_delete=models.CASCADE, related_name="logs")``.

    ``sequence`` is 1, 2, … per process with no gaps; order by it, never by id or time.
    """

    sequence = models.PositiveBigIntegerField(editable=False)
    level = models.CharField(max_length=16, default="INFO")
    message = models.TextField()
    extra = models.JSONField(default=dict, blank=True)
    created = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        abstract = True
        ordering = ("sequence",)
        constraints = (
            models.UniqueConstraint(
                fields=("process", "sequence"), name="%(app_label)s_%(class)s_process_seq"
            ),
        )

    def __str__(self) -> str:
        return f"{self.sequence} {self.level} {self.message[:80]}"
