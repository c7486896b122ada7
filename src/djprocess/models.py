"""The abstract models: subclass :class:`BaseProcess` and :class:`BaseProcessLog`.

::

    class ExportProcess(BaseProcess):
        path = models.CharField(max_length=255)

        def run(self):
            self.log(f"Exporting {self.path}")

    class ExportProcessLog(BaseProcessLog):
        process = models.ForeignKey(
            ExportProcess, on_delete=models.CASCADE, related_name="logs", db_index=False
        )
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

from django.core.paginator import Page
from django.db import models
from django.db.models.signals import class_prepared, post_delete
from django.utils import timezone
from model_utils.models import StatusModel, TimeStampedModel

from djprocess import lifecycle, logs, rerun
from djprocess import status as statuses
from djprocess._compat import LegacyMarkMethods
from djprocess.conf import settings
from djprocess.run import relay, runner
from djprocess.validators import is_integer, validate_timeout_value

__all__ = [
    "DEFAULT_PROCESS_TIMEOUT",
    "DEFAULT_TIMEOUT",
    "MANAGED_FIELDS",
    "BaseProcess",
    "BaseProcessLog",
    "LogCounter",
]

#: Fields only djprocess writes (through compare-and-set). ``save()`` on an
#: existing row never writes them, so a stale instance cannot undo a transition.
MANAGED_FIELDS = frozenset(
    {
        "status",
        "status_changed",
        "dispatched_at",
        "started_at",
        "finished_at",
        "process_task_id",
        "watchdog_task_id",
        "worker_hostname",
        "worker_pid",
        "worker_pidns",
        "attempts",
        "exception",
        "traceback",
        "stopped_by",
        "stop_signal",
        "termination",
        "progress_current",
        "progress_total",
        "deadline_at",
        "next_check_at",
        "heartbeat_at",
    }
)

#: The default of :attr:`BaseProcess.timeout` (a :class:`~datetime.timedelta`, 20 minutes).
DEFAULT_TIMEOUT = timedelta(minutes=20)
#: djprocess 0.0.1's name for :data:`DEFAULT_TIMEOUT`, kept for its importers.
DEFAULT_PROCESS_TIMEOUT = DEFAULT_TIMEOUT


class BaseProcess(LegacyMarkMethods, TimeStampedModel, StatusModel):
    """A long-running job tracked in the database. Override :meth:`run`.

    Status (``status``, a django-model-utils ``StatusField``; ``status_changed`` is
    when it last changed): ``pending`` → ``running`` → ``succeeded`` / ``failed``;
    ``cancelled`` and ``timed_out`` from ``pending`` or ``running``. Terminal
    statuses are final, except that :meth:`restart` runs a ``failed``, ``timed_out`` or
    ``cancelled`` process again (back to ``pending``).
    """

    STATUS = statuses.STATUS

    timeout = models.DurationField(
        default=DEFAULT_TIMEOUT,
        validators=[validate_timeout_value],
        help_text="How long run() may take once started (more than 0, at most 365 days).",
    )
    dispatched_at = models.DateTimeField(null=True, blank=True, editable=False)
    started_at = models.DateTimeField(null=True, blank=True, editable=False)
    finished_at = models.DateTimeField(null=True, blank=True, editable=False)
    process_task_id = models.CharField(max_length=255, blank=True, default="", editable=False)
    watchdog_task_id = models.CharField(max_length=255, blank=True, default="", editable=False)
    worker_hostname = models.CharField(max_length=255, blank=True, default="", editable=False)
    worker_pid = models.PositiveIntegerField(null=True, blank=True, editable=False)
    worker_pidns = models.CharField(
        max_length=64,
        blank=True,
        default="",
        editable=False,
        help_text="The pid namespace worker_pid belongs to (two containers may share a host name).",
    )
    attempts = models.PositiveIntegerField(default=0, editable=False)
    exception = models.TextField(blank=True, default="", editable=False)
    traceback = models.TextField(blank=True, default="", editable=False)
    stopped_by = models.CharField(
        max_length=32,
        blank=True,
        default="",
        editable=False,
        help_text="Who stopped it: 'watchdog', 'cancel', 'worker' (lost) or 'signal'.",
    )
    stop_signal = models.CharField(max_length=16, blank=True, default="", editable=False)
    termination = models.CharField(
        max_length=255,
        blank=True,
        default="",
        editable=False,
        help_text="How the run was stopped, e.g. 'SIGKILL after 3 SIGTERM'.",
    )
    progress_current = models.PositiveBigIntegerField(null=True, blank=True, editable=False)
    progress_total = models.PositiveBigIntegerField(null=True, blank=True, editable=False)
    deadline_at = models.DateTimeField(
        null=True,
        blank=True,
        editable=False,
        help_text="When the run must be over (UTC): started + timeout. Set when it starts.",
    )
    next_check_at = models.DateTimeField(
        null=True,
        blank=True,
        editable=False,
        db_index=True,
        help_text="When the supervisor next looks at this process (UTC); empty once finished.",
    )
    heartbeat_at = models.DateTimeField(
        null=True,
        blank=True,
        editable=False,
        help_text="Last sign of life from the process supervising the run (UTC).",
    )

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

        A ``pending`` process runs for the first time; one that ended ``failed`` or
        ``timed_out`` and is finished runs again (as :meth:`restart`), as in 0.0.1.
        See :func:`djprocess.lifecycle.start` for errors. Returns ``self``, refreshed.
        """
        return lifecycle.start(self)

    def restart(self) -> BaseProcess:
        """Run a process that ended ``failed``, ``timed_out`` or ``cancelled`` again.

        Only once it is finished (``finished_at`` set). ``attempts`` counts the runs and
        the log continues in sequence. See :func:`djprocess.rerun.restart` for errors.
        Returns ``self``, refreshed.
        """
        return rerun.restart(self)

    @property
    def can_restart(self) -> bool:
        """True if :meth:`restart` would be accepted (as last loaded): the process ended
        ``failed``, ``timed_out`` or ``cancelled`` and is finished."""
        return self.status in rerun.RESTARTABLE and self.finished_at is not None

    def cancel(self) -> bool:
        """Stop the process in any state. See :func:`djprocess.lifecycle.cancel`."""
        return lifecycle.cancel(self)

    def execute(self, *, task_id: str = "", hostname: str = "") -> str:
        """Run the process here and now (what a worker calls). Returns the final status.

        See :func:`djprocess.run.runner.execute`.
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
        serialisable mapping stored with the line. Bad input never raises nor loses the
        line: it is stored cleaned (NUL and surrogates escaped, long messages truncated
        at ``DJPROCESS_LOG_MAX_MESSAGE_LENGTH``, unknown levels as ``"INFO"``); see
        :mod:`djprocess.logs.sanitize`.
        """
        return logs.append(self, [logs.LogEntry(message=message, level=level, extra=extra)])[0]

    def log_many(self, entries: Sequence[logs.LogEntry | str]) -> list[int]:
        """Append several lines in one transaction, in order; returns their sequences
        (consecutive). Each entry is a :class:`~djprocess.logs.LogEntry` or a plain string
        (a line at level ``INFO``): ``log_many(["a", "b"])``. One statement on PostgreSQL
        for up to 1000 lines. Same guarantees as :meth:`log`."""
        return logs.append(self, entries)

    def log_count(self) -> int:
        """How many lines the log has (= the sequence of the last one). One indexed query."""
        return logs.count(self)

    def paginate_logs(self, page: int | str = 1, per_page: int = 50) -> Page[Any]:
        """Page ``page`` (1-based, or ``"last"``) of the log, ``per_page`` lines each.

        Returns a Django :class:`~django.core.paginator.Page` of log entries in
        sequence order. Raises ``PageNotAnInteger``/``EmptyPage`` as Django's
        paginator does, and :class:`ValueError` if ``per_page`` is not an integer in
        ``1..DJPROCESS_LOG_MAX_PER_PAGE``. Two queries, whatever the page and the log's
        size (no ``COUNT(*)``, no ``OFFSET``).
        """
        return logs.paginate(self, page, per_page, settings.LOG_MAX_PER_PAGE)

    def logs_after(self, sequence: int = 0, limit: int = 100) -> list[BaseProcessLog]:
        """Lines with a sequence above ``sequence``, at most ``limit``, in order: a cursor
        for following a running process (pass the last sequence seen as the next
        ``sequence``). One bounded query. Raises :class:`ValueError` if ``sequence`` is
        not an integer ``>= 0`` or ``limit`` not one in ``1..DJPROCESS_LOG_MAX_PER_PAGE``.
        """
        return logs.tail(self, after=sequence, limit=limit, max_limit=settings.LOG_MAX_PER_PAGE)

    # -- progress ----------------------------------------------------------------

    def set_progress(self, current: int, total: int | None = None) -> None:
        """Record progress: ``current`` of ``total`` units done (``total`` None: unknown).

        One ``UPDATE`` of ``progress_current``/``progress_total`` on the caller's
        connection; it never touches ``status`` (a cancelled or finished process keeps
        its status). Inside ``atomic()`` it is visible when the block commits. Raises
        :class:`ValueError` unless ``current`` and ``total`` are integers ``>= 0`` with
        ``current <= total``.
        """
        for name, value in (("current", current), ("total", total)):
            if value is None and name == "total":
                continue
            if not is_integer(value) or not 0 <= value < 2**63:
                raise ValueError(f"progress {name} must be an integer in 0..2**63-1, got {value!r}")
        if total is not None and current > total:
            raise ValueError(f"progress current={current} is above total={total}")
        if relay.active is not None:  # a run with no database access (a sandbox)
            relay.active.progress(current, total)
        else:
            type(self)._base_manager.filter(pk=self.pk).update(
                progress_current=current, progress_total=total
            )
        self.progress_current, self.progress_total = current, total

    @property
    def progress(self) -> float | None:
        """Progress as a fraction in ``[0.0, 1.0]`` (as last loaded), or None if no total
        is known. A total of 0 counts as done (1.0)."""
        if self.progress_total is None or self.progress_current is None:
            return None
        if self.progress_total == 0:
            return 1.0
        return min(1.0, self.progress_current / self.progress_total)

    # -- persistence -------------------------------------------------------------

    def save(self, *args: Any, **kwargs: Any) -> None:
        """Save user fields. On an existing row the djprocess-managed fields
        (:data:`MANAGED_FIELDS`) are never written: they change only by transition."""
        if not self._state.adding and self.pk is not None:
            update_fields = kwargs.get("update_fields")
            if update_fields is None:
                update_fields = [
                    f.name
                    for f in self._meta.concrete_fields
                    if not f.primary_key and f.name not in MANAGED_FIELDS
                ]
            kwargs["update_fields"] = [f for f in update_fields if f not in MANAGED_FIELDS]
        super().save(*args, **kwargs)


class BaseProcessLog(models.Model):
    """One log line of a process. Subclasses add
    ``process = models.ForeignKey(<Process>, on_delete=models.CASCADE, related_name="logs",
    db_index=False)`` (the unique ``(process, sequence)`` constraint is its index).

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


class LogCounter(models.Model):
    """The last log sequence of one process (any ``BaseProcess`` model), the counter that
    makes sequences gapless. Keyed by the concrete model's label (a proxy shares it).
    Written only by :mod:`djprocess.logs._sql`; deleted with its process (``post_delete``) and
    by ``djprocess_purge``."""

    model = models.CharField(max_length=100, help_text="Concrete process model label, app.model.")
    object_id = models.CharField(max_length=255, help_text="Process primary key, as text.")
    value = models.PositiveBigIntegerField(default=0, help_text="Sequence of the last line.")

    class Meta:
        constraints = (
            models.UniqueConstraint(fields=("model", "object_id"), name="djprocess_logcounter_key"),
        )

    def __str__(self) -> str:
        return f"{self.model} #{self.object_id}: {self.value} lines"


def _delete_counter(sender: type[BaseProcess], instance: BaseProcess, **kwargs: Any) -> None:
    from djprocess.logs._sql import counter_label

    LogCounter._base_manager.using(instance._state.db or "default").filter(
        model=counter_label(sender), object_id=str(instance.pk)
    ).delete()


def _connect_counter_cleanup(sender: type[models.Model], **kwargs: Any) -> None:
    # Per concrete process model only: a receiver for every sender would make Django
    # fetch every log line (no fast delete) when a process is deleted.
    if issubclass(sender, BaseProcess) and not sender._meta.abstract:
        post_delete.connect(_delete_counter, sender=sender, dispatch_uid=f"djprocess-{sender}")


class_prepared.connect(_connect_counter_cleanup)
