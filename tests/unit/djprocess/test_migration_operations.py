"""``djprocess.migration_operations``, run as a migration runs them: on the historical models
of a migration state, through a schema editor. (The whole upgrade of a real 0.0.1 project is
``tests/upgrade``.)"""

from __future__ import annotations

from typing import Any

import pytest
from django.apps import apps
from django.db import connection
from django.db.migrations.operations.base import Operation
from django.db.migrations.state import ProjectState
from django.test import override_settings

from djprocess import migration_operations
from djprocess.migration_operations import CompleteUpgradeFrom001, RenumberProcessLogs
from djprocess.models import LogCounter
from djprocess_example.models import ExampleProcess, ExampleProcessLog

APP = "djprocess_example"
MODEL = "exampleprocess"

pytestmark = pytest.mark.django_db(transaction=True)


class NoMigrations:
    """A database router that lets nothing migrate."""

    def allow_migrate(self, db: str, app_label: str, **hints: Any) -> bool:
        return False


@pytest.fixture(scope="module")
def state() -> ProjectState:
    return ProjectState.from_apps(apps)


def forwards(operation: Operation, state: ProjectState) -> None:
    with connection.schema_editor() as editor:
        operation.database_forwards(APP, editor, state, state)


def lines_with(process: ExampleProcess, *rows: tuple[int, str]) -> None:
    ExampleProcessLog.objects.bulk_create(
        ExampleProcessLog(process=process, sequence=sequence, level=level, message=f"s{sequence}")
        for sequence, level in rows
    )


def sequences(process: ExampleProcess) -> list[tuple[int, str]]:
    return list(
        ExampleProcessLog.objects.filter(process=process)
        .order_by("sequence")
        .values_list("sequence", "message")
    )


def test_renumbering_makes_each_log_1_to_n_in_order_and_leaves_good_logs_alone(
    state: ProjectState,
) -> None:
    gaps, good = ExampleProcess.objects.create(), ExampleProcess.objects.create()
    lines_with(gaps, (5, "info"), (9, "info"), (12, "info"))
    lines_with(good, (1, "info"), (2, "info"))
    untouched = set(ExampleProcessLog.objects.filter(process=good).values_list("pk", "sequence"))

    forwards(RenumberProcessLogs(MODEL), state)

    assert sequences(gaps) == [(1, "s5"), (2, "s9"), (3, "s12")]
    assert set(ExampleProcessLog.objects.filter(process=good).values_list("pk", "sequence")) == (
        untouched
    )


def test_completing_the_upgrade_fills_the_new_fields_levels_and_counters(
    state: ProjectState, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(migration_operations, "_BATCH", 2)  # counters saved in several batches
    cancelled, timed_out, pending = (ExampleProcess.objects.create() for _ in range(3))
    ExampleProcess.objects.filter(pk=cancelled.pk).update(status="cancelled")
    ExampleProcess.objects.filter(pk=timed_out.pk).update(status="timed_out")
    ExampleProcess.objects.filter(pk=pending.pk).update(process_task_id="old-0.0.1-task")
    lines_with(cancelled, (1, "info"), (2, "warn"))
    lines_with(timed_out, (1, "error"))
    lines_with(pending, (1, "debug"), (2, "critical"), (3, "warning"))

    forwards(CompleteUpgradeFrom001(MODEL), state)

    rows = {p.pk: p for p in ExampleProcess.objects.all()}
    assert rows[cancelled.pk].stopped_by == "cancel"
    assert rows[cancelled.pk].finished_at is not None
    assert rows[timed_out.pk].stopped_by == "watchdog"
    assert rows[pending.pk].process_task_id == ""
    levels = ExampleProcessLog.objects.order_by("process", "sequence").values_list(
        "level", flat=True
    )
    assert list(levels) == ["INFO", "WARNING", "ERROR", "DEBUG", "CRITICAL", "WARNING"]
    counters = dict(LogCounter.objects.values_list("object_id", "value"))
    assert counters == {str(cancelled.pk): 2, str(timed_out.pk): 1, str(pending.pk): 3}
    # New lines continue the sequence.
    assert rows[pending.pk].log("after the upgrade") == 4


def test_a_database_the_router_does_not_migrate_is_left_alone(state: ProjectState) -> None:
    process = ExampleProcess.objects.create()
    lines_with(process, (7, "info"))
    with override_settings(DATABASE_ROUTERS=[f"{__name__}.NoMigrations"]):
        forwards(RenumberProcessLogs(MODEL), state)
        forwards(CompleteUpgradeFrom001(MODEL), state)
    assert sequences(process) == [(7, "s7")]
    assert list(ExampleProcessLog.objects.values_list("level", flat=True)) == ["info"]


def test_the_operations_are_data_only_serialisable_and_one_way(state: ProjectState) -> None:
    for operation_class in (RenumberProcessLogs, CompleteUpgradeFrom001):
        operation = operation_class(MODEL)
        name, args, kwargs = operation.deconstruct()
        assert (name, args, kwargs) == (operation_class.__qualname__, [MODEL], {})
        assert MODEL in operation.describe()
        before = state.clone()
        operation.state_forwards(APP, state)
        assert state.models == before.models  # the schema is Django's operations' business

    process = ExampleProcess.objects.create()
    lines_with(process, (3, "info"))
    with connection.schema_editor() as editor:
        RenumberProcessLogs(MODEL).database_backwards(APP, editor, state, state)
    assert sequences(process) == [(3, "s3")]  # backwards leaves the data as it is


def test_renames_from_0_0_1_renames_each_field_then_renumbers() -> None:
    operations = migration_operations.renames_from_0_0_1(MODEL)
    renames = [(op.old_name, op.new_name) for op in operations[:-1]]  # type: ignore[attr-defined]
    assert renames == list(migration_operations.RENAMED_IN_0_1_0.items())
    assert isinstance(operations[-1], RenumberProcessLogs)


def test_a_data_operation_must_say_what_it_does(state: ProjectState) -> None:
    class Unfinished(migration_operations._DataOperation):
        pass

    with pytest.raises(NotImplementedError):
        forwards(Unfinished(MODEL), state)
