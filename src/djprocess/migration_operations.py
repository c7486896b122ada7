"""Migration operations that upgrade a process model created with djprocess 0.0.1.

Used in two migrations of *your* app, around the one ``makemigrations`` writes (the recipe is
in the docs, "Upgrading from djprocess 0.0.1")::

    # 1. before makemigrations: keep the data of the renamed fields, number the lines 1..n
    operations = renames_from_0_0_1("exportprocess")

    # 2. python manage.py makemigrations  (alters and adds fields; nothing removed but sandbox_id)

    # 3. after it: fill the new fields from the old data, upper-case the log levels, set the
    #    log counters so new lines continue the sequence
    operations = [CompleteUpgradeFrom001("exportprocess")]

Each operation works on the historical models of the migration state (never on your current
model classes) and leaves the schema to Django's own operations. Migrating backwards undoes
the renames; the data steps are then no-ops.
"""

from __future__ import annotations

from typing import Any

from django.db import connections, models, router, transaction
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.migrations import RenameField
from django.db.migrations.operations.base import Operation
from django.db.migrations.state import ProjectState
from django.db.models.functions import Coalesce

__all__ = [
    "LOG_LEVELS_0_0_1",
    "RENAMED_IN_0_1_0",
    "CompleteUpgradeFrom001",
    "RenumberProcessLogs",
    "renames_from_0_0_1",
]

#: Fields of a 0.0.1 process model renamed in 0.1.0: ``{old name: new name}``.
RENAMED_IN_0_1_0: dict[str, str] = {
    "started": "started_at",
    "finished": "finished_at",
    "celery_task_id": "process_task_id",
    "error": "exception",
}

#: 0.0.1's lower-case log levels and the level names 0.1.0 stores.
LOG_LEVELS_0_0_1: dict[str, str] = {
    "debug": "DEBUG",
    "info": "INFO",
    "warning": "WARNING",
    "warn": "WARNING",
    "error": "ERROR",
    "critical": "CRITICAL",
}

_TERMINAL = ("succeeded", "failed", "cancelled", "timed_out")
_BATCH = 1000


def renames_from_0_0_1(model_name: str) -> list[Operation]:
    """The operations of the migration that goes *before* the one ``makemigrations`` writes:
    a :class:`~django.db.migrations.operations.RenameField` for each field of
    :data:`RENAMED_IN_0_1_0` on ``model_name`` (lower-case model name, e.g.
    ``"exportprocess"``, of the migration's app), then :class:`RenumberProcessLogs`."""
    renames: list[Operation] = [
        RenameField(model_name=model_name, old_name=old, new_name=new)
        for old, new in RENAMED_IN_0_1_0.items()
    ]
    return [*renames, RenumberProcessLogs(model_name)]


def _log_model(process_model: type[models.Model]) -> tuple[type[models.Model], str]:
    """The log model of a historical process model (``related_name="logs"``) and its
    foreign key name. Raises ``FieldDoesNotExist`` if there is none."""
    relation = process_model._meta.get_field("logs")
    log_model = relation.related_model
    assert isinstance(log_model, type)
    return log_model, relation.field.name  # type: ignore[union-attr]


class _DataOperation(Operation):
    """A data-only operation on one process model of the migration's app."""

    reduces_to_sql = False
    reversible = True

    def __init__(self, model_name: str) -> None:
        self.model_name = model_name

    def deconstruct(self) -> tuple[str, list[Any], dict[str, Any]]:
        return (self.__class__.__qualname__, [self.model_name], {})

    def state_forwards(self, app_label: str, state: ProjectState) -> None:
        """Data only: the state does not change."""

    def database_forwards(
        self,
        app_label: str,
        schema_editor: BaseDatabaseSchemaEditor,
        from_state: ProjectState,
        to_state: ProjectState,
    ) -> None:
        process_model = from_state.apps.get_model(app_label, self.model_name)
        alias = schema_editor.connection.alias
        if self.allow_migrate_model(alias, process_model) and router.allow_migrate(
            alias, app_label, model_name=self.model_name
        ):
            with transaction.atomic(using=alias):
                self.apply(from_state, process_model, alias)

    def database_backwards(
        self,
        app_label: str,
        schema_editor: BaseDatabaseSchemaEditor,
        from_state: ProjectState,
        to_state: ProjectState,
    ) -> None:
        """Nothing to undo: the data stays as it is."""

    def apply(self, state: ProjectState, process_model: type[models.Model], alias: str) -> None:
        raise NotImplementedError


class RenumberProcessLogs(_DataOperation):
    """Number each process's log lines ``1..n`` in their order (``sequence``, then ``id``).

    0.1.0 pages a log by sequence ranges, so sequences must be gapless and unique; 0.0.1
    could leave two lines with one sequence. Processes whose lines already are ``1..n``
    are not touched (one aggregate query finds the others)."""

    def describe(self) -> str:
        return f"Number the log lines of {self.model_name} 1..n per process"

    def apply(self, state: ProjectState, process_model: type[models.Model], alias: str) -> None:
        log_model, fk = _log_model(process_model)
        lines = log_model._base_manager.using(alias)
        stats = lines.values(fk).annotate(
            n=models.Count("pk"),
            low=models.Min("sequence"),
            high=models.Max("sequence"),
            distinct=models.Count("sequence", distinct=True),
        )
        broken = [
            row
            for row in stats
            if not (row["low"] == 1 and row["high"] == row["n"] == row["distinct"])
        ]
        for row in broken:
            mine = lines.filter(**{fk: row[fk]})
            ids = list(mine.order_by("sequence", "pk").values_list("pk", flat=True))
            # Above every current value first, so no two lines ever share a sequence.
            offset = row["high"] + 1
            for number, pk in enumerate(ids, start=1):
                lines.filter(pk=pk).update(sequence=offset + number)
            mine.update(sequence=models.F("sequence") - offset)


class CompleteUpgradeFrom001(_DataOperation):
    """Fill 0.1.0's fields from what 0.0.1 recorded; goes *after* the migration
    ``makemigrations`` writes, and must depend on ``("djprocess", "0001_initial")``.

    On the process model: ``status_changed`` = ``finished_at``, else ``started_at``, else
    ``modified``; a process that ran gets ``attempts = 1`` and ``dispatched_at =
    started_at``; a terminal one without ``finished_at`` gets ``modified``; ``stopped_by`` is
    ``"cancel"`` for ``cancelled`` and ``"watchdog"`` for ``timed_out``. A ``pending``
    process loses its 0.0.1 task ids (those tasks are gone or unknown to 0.1.0's workers):
    ``start()`` dispatches it afresh. On its log: levels upper-cased
    (:data:`LOG_LEVELS_0_0_1`) and each process's counter
    (:class:`djprocess.models.LogCounter`) set to its last sequence, so new lines continue.
    """

    def describe(self) -> str:
        return f"Fill the djprocess 0.1.0 fields of {self.model_name} from its 0.0.1 data"

    def apply(self, state: ProjectState, process_model: type[models.Model], alias: str) -> None:
        rows = process_model._base_manager.using(alias)
        rows.update(status_changed=Coalesce("finished_at", "started_at", "modified"))
        rows.filter(started_at__isnull=False, attempts=0).update(
            attempts=1, dispatched_at=models.F("started_at")
        )
        rows.filter(status__in=_TERMINAL, finished_at__isnull=True).update(
            finished_at=models.F("modified")
        )
        rows.filter(status="cancelled", stopped_by="").update(stopped_by="cancel")
        rows.filter(status="timed_out", stopped_by="").update(stopped_by="watchdog")
        rows.filter(status="pending", dispatched_at__isnull=True).update(
            process_task_id="", watchdog_task_id=""
        )

        log_model, fk = _log_model(process_model)
        lines = log_model._base_manager.using(alias)
        for old, new in LOG_LEVELS_0_0_1.items():
            lines.filter(level=old).update(level=new)

        counter_model = state.apps.get_model("djprocess", "LogCounter")
        label = process_model._meta.label_lower
        last = lines.values_list(fk).annotate(last=models.Max("sequence")).order_by(fk)
        batch: list[models.Model] = []
        for pk, value in last.iterator(chunk_size=_BATCH):
            batch.append(counter_model(model=label, object_id=str(pk), value=value))
            if len(batch) == _BATCH:
                self._save_counters(counter_model, batch, alias)
                batch = []
        self._save_counters(counter_model, batch, alias)

    @staticmethod
    def _save_counters(
        counter_model: type[models.Model], batch: list[models.Model], alias: str
    ) -> None:
        # MySQL/MariaDB's upsert (ON DUPLICATE KEY UPDATE) takes no conflict target.
        target = connections[alias].features.supports_update_conflicts_with_target
        counter_model._base_manager.using(alias).bulk_create(
            batch,
            update_conflicts=True,
            unique_fields=["model", "object_id"] if target else None,
            update_fields=["value"],
        )
