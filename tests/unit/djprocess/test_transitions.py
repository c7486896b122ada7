"""``djprocess._transitions``: compare-and-set, and why a stale instance cannot win."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.db.models import F, Q

from djprocess import status
from djprocess._transitions import compare_and_set, current_status, record
from djprocess_example.models import ExampleProcess

MakeProcess = Callable[..., ExampleProcess]


def test_wins_only_from_the_expected_status(make_process: MakeProcess) -> None:
    process = make_process()

    assert compare_and_set(process, [status.PENDING], status.RUNNING) is True
    assert process.status == status.RUNNING
    assert compare_and_set(process, [status.PENDING], status.CANCELLED) is False
    assert process.status == status.RUNNING
    assert ExampleProcess.objects.get(pk=process.pk).status == status.RUNNING


def test_a_loser_does_not_touch_the_instance(make_process: MakeProcess) -> None:
    process = make_process()
    ExampleProcess.objects.filter(pk=process.pk).update(status=status.CANCELLED)

    assert compare_and_set(process, [status.PENDING], status.RUNNING, worker_pid=5) is False
    assert process.status == status.PENDING  # as loaded: nothing copied
    assert process.worker_pid is None


def test_where_narrows_the_update(make_process: MakeProcess) -> None:
    process = make_process()
    assert not compare_and_set(process, [status.PENDING], where=Q(dispatched_at__isnull=False))
    assert compare_and_set(process, [status.PENDING], where=Q(dispatched_at__isnull=True))


def test_expressions_are_not_copied_to_the_instance(make_process: MakeProcess) -> None:
    process = make_process()
    assert compare_and_set(process, [status.PENDING], attempts=F("attempts") + 1)
    assert process.attempts == 0  # stale until refreshed
    process.refresh_from_db(fields=["attempts"])
    assert process.attempts == 1


def test_status_changed_follows_the_status(make_process: MakeProcess) -> None:
    process = make_process()
    before = ExampleProcess.objects.get(pk=process.pk).status_changed
    assert compare_and_set(process, [status.PENDING], status.RUNNING)
    assert ExampleProcess.objects.get(pk=process.pk).status_changed > before


def test_terminal_status_is_final_for_every_transition_djprocess_makes(
    make_process: MakeProcess,
) -> None:
    process = make_process()
    assert compare_and_set(process, [status.PENDING], status.CANCELLED)
    for target in (status.RUNNING, status.SUCCEEDED, status.FAILED, status.TIMED_OUT):
        assert not compare_and_set(process, sorted(status.ACTIVE), target)
    assert current_status(process) == status.CANCELLED


def test_save_of_a_stale_instance_cannot_change_the_status(make_process: MakeProcess) -> None:
    stale = make_process(seconds=1)
    fresh = ExampleProcess.objects.get(pk=stale.pk)
    assert compare_and_set(fresh, [status.PENDING], status.CANCELLED, stopped_by="cancel")

    stale.seconds = 2.5  # a user field: saved
    stale.status = status.SUCCEEDED  # a managed field: ignored
    stale.stopped_by = ""
    stale.save()

    row = ExampleProcess.objects.get(pk=stale.pk)
    assert row.seconds == 2.5
    assert row.status == status.CANCELLED
    assert row.stopped_by == "cancel"


def test_save_with_update_fields_drops_managed_fields(make_process: MakeProcess) -> None:
    process = make_process()
    process.status = status.SUCCEEDED
    process.lines = 9
    process.save(update_fields=["status", "lines"])
    row = ExampleProcess.objects.get(pk=process.pk)
    assert (row.status, row.lines) == (status.PENDING, 9)


def test_current_status_refreshes_and_raises_for_a_deleted_row(make_process: MakeProcess) -> None:
    process = make_process()
    ExampleProcess.objects.filter(pk=process.pk).update(status=status.FAILED)
    assert current_status(process) == status.FAILED
    assert process.status == status.FAILED
    ExampleProcess.objects.filter(pk=process.pk).delete()
    with pytest.raises(ExampleProcess.DoesNotExist):
        current_status(process)


def test_record_writes_regardless_of_status(make_process: MakeProcess) -> None:
    process = make_process()
    ExampleProcess.objects.filter(pk=process.pk).update(status=status.TIMED_OUT)
    record(process, termination="SIGKILL after 3 SIGTERM")
    assert process.termination == "SIGKILL after 3 SIGTERM"
    assert ExampleProcess.objects.get(pk=process.pk).termination == "SIGKILL after 3 SIGTERM"
