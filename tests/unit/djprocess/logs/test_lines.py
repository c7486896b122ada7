"""Log writing and reading: sequences, batch API, bounded pagination, cursor, progress,
retention. Runs on SQLite (default) and PostgreSQL (``--ds=djprocess_test_settings.postgres``).
(Logging capture: ``test_capture_loggers.py``; ``djprocess_purge``:
``management/commands/test_djprocess_purge.py``.)"""

from __future__ import annotations

import logging
import re
from typing import Any

import pytest
from django.core.paginator import EmptyPage, PageNotAnInteger, Paginator
from django.db import connection
from django.test.utils import CaptureQueriesContext
from unit_helpers import Make, sequences

from djprocess import status
from djprocess._transitions import compare_and_set
from djprocess.logs import LogEntry
from djprocess.models import LogCounter
from djprocess_example.models import ExampleProcess, ExampleProcessLog


def test_log_returns_consecutive_sequences_from_one(make: Make) -> None:
    process = make()
    assert process.log("a") == 1
    assert process.log_many([LogEntry(message=n) for n in range(3)]) == [2, 3, 4]
    assert process.log_many([]) == []
    assert process.log("b", level="warning", extra={"k": [1, 2]}) == 5
    assert sequences(process) == [1, 2, 3, 4, 5]
    assert process.log_count() == 5
    last = process.logs.get(sequence=5)
    assert (last.level, last.message, last.extra) == ("WARNING", "b", {"k": [1, 2]})


def test_log_many_takes_plain_strings_and_entries(make: Make) -> None:
    process = make()
    assert process.log_many(["a", LogEntry(message="b", level="ERROR"), "c"]) == [1, 2, 3]
    found = list(process.logs.order_by("sequence").values_list("message", "level", "extra"))
    assert found == [("a", "INFO", {}), ("b", "ERROR", {}), ("c", "INFO", {})]


@pytest.mark.parametrize("count", [1, 2, 1001])
def test_writes_of_any_size_to_a_deleted_process_raise(make: Make, count: int) -> None:
    process = make()
    ExampleProcess.objects.filter(pk=process.pk).delete()
    with pytest.raises(ExampleProcess.DoesNotExist):
        process.log_many([f"line {n}" for n in range(count)])
    assert not LogCounter.objects.filter(object_id=str(process.pk)).exists()


def test_sequences_are_per_process(make: Make) -> None:
    first, second = make(), make()
    first.log("x")
    assert second.log("y") == 1
    assert first.log("z") == 2


def test_levels_are_standard_names(make: Make) -> None:
    process = make()
    for level in (logging.DEBUG, "info", "WARN", logging.ERROR, 50, 25):
        process.log("m", level=level)
    levels = list(process.logs.order_by("sequence").values_list("level", flat=True))
    assert levels == ["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL", "INFO"]


def test_log_of_unsaved_or_deleted_process_raises(make: Make) -> None:
    with pytest.raises(ValueError, match="unsaved ExampleProcess"):
        ExampleProcess().log("x")
    process = make()
    ExampleProcess.objects.filter(pk=process.pk).delete()
    with pytest.raises(ExampleProcess.DoesNotExist):
        process.log("x")


def test_batch_is_one_insert(make: Make) -> None:
    process = make()
    with CaptureQueriesContext(connection) as queries:
        process.log_many([LogEntry(message=f"line {n}") for n in range(500)])
    inserts = [q["sql"] for q in queries if "exampleprocesslog" in q["sql"].lower()]
    assert len(inserts) == 1
    assert sequences(process) == list(range(1, 501))


# -- pagination and the cursor ----------------------------------------------------------------


def _shape(sql: str) -> str:
    return re.sub(r"\d+", "N", sql)


def test_page_one_and_page_ten_thousand_issue_the_same_bounded_queries(make: Make) -> None:
    process = make()
    per_page = 2
    process.log_many([LogEntry(message=f"line {n}") for n in range(1, 20_001)])
    with CaptureQueriesContext(connection) as first:
        page1 = process.paginate_logs(1, per_page)
    with CaptureQueriesContext(connection) as deep:
        page10k = process.paginate_logs(10_000, per_page)
    assert [e.sequence for e in page1] == [1, 2]
    assert [e.sequence for e in page10k] == [19_999, 20_000]
    assert not page10k.has_next()
    assert page10k.has_previous()
    assert page10k.paginator.num_pages == 10_000
    assert len(first) == len(deep) == 2
    assert [_shape(q["sql"]) for q in first] == [_shape(q["sql"]) for q in deep]
    for query in [*first, *deep]:
        sql = query["sql"].upper()
        assert "COUNT(" not in sql
        assert "OFFSET" not in sql


def test_django_paginator_would_count_and_offset(make: Make) -> None:
    """The baseline our paginator avoids (proves the assertion above can fail)."""
    process = make()
    process.log_many([LogEntry(message=n) for n in range(10)])
    with CaptureQueriesContext(connection) as queries:
        list(Paginator(process.logs.order_by("sequence"), 2).page(3))
    sql = " ".join(q["sql"].upper() for q in queries)
    assert "COUNT(" in sql
    assert "OFFSET" in sql


def test_pages_behave_like_djangos_paginator(make: Make) -> None:
    process = make()
    process.log_many([LogEntry(message=n) for n in range(7)])
    ours = process.paginate_logs("last", 3)
    assert ours.number == 3
    assert [e.sequence for e in ours] == [7]
    for bad, error in ((0, EmptyPage), (4, EmptyPage), (-1, EmptyPage), ("x", PageNotAnInteger)):
        with pytest.raises(error):
            process.paginate_logs(bad, 3)
    empty = make()
    assert list(empty.paginate_logs(1, 3)) == []
    with pytest.raises(EmptyPage):
        empty.paginate_logs(2, 3)


@pytest.mark.parametrize("per_page", [0, -1, 1.5, True, 1001])
def test_bad_per_page_is_refused(make: Make, per_page: Any) -> None:
    with pytest.raises(ValueError, match="per_page"):
        make().paginate_logs(1, per_page)


def test_logs_after_is_a_cursor(make: Make) -> None:
    process = make()
    process.log_many([LogEntry(message=n) for n in range(10)])
    seen: list[int] = []
    cursor = 0
    while batch := process.logs_after(cursor, 3):
        seen += [line.sequence for line in batch]
        cursor = batch[-1].sequence
    assert seen == list(range(1, 11))
    with CaptureQueriesContext(connection) as queries:
        process.logs_after(5, 2)
    assert len(queries) == 1
    assert "OFFSET" not in queries[0]["sql"].upper()
    for bad in ({"sequence": -1}, {"limit": 0}, {"limit": 1001}, {"sequence": "1"}):
        with pytest.raises(ValueError, match=r"must be an integer|above"):
            process.logs_after(**bad)


# -- progress ---------------------------------------------------------------------------------


def test_progress_never_touches_status(make: Make) -> None:
    process = make()
    assert process.progress is None
    assert compare_and_set(process, [status.PENDING], status.CANCELLED)
    stale = ExampleProcess.objects.get(pk=process.pk)
    stale.set_progress(3, 4)
    fresh = ExampleProcess.objects.get(pk=process.pk)
    assert fresh.status == status.CANCELLED
    assert (fresh.progress_current, fresh.progress_total, fresh.progress) == (3, 4, 0.75)
    stale.set_progress(5)
    assert stale.progress is None
    stale.set_progress(0, 0)
    assert stale.progress == 1.0


@pytest.mark.parametrize(
    ("current", "total"), [(-1, None), (2, 1), ("1", 2), (1, -2), (1.0, 2), (2**63, 2**63)]
)
def test_bad_progress_is_refused(make: Make, current: Any, total: Any) -> None:
    with pytest.raises(ValueError, match="progress"):
        make().set_progress(current, total)


# -- retention --------------------------------------------------------------------------------


def test_deleting_a_process_deletes_its_lines_and_counter(make: Make) -> None:
    process = make()
    process.log_many([LogEntry(message=n) for n in range(5)])
    keep = make()
    keep.log("kept")
    process.delete()
    assert not ExampleProcessLog.objects.filter(process_id=process.pk).exists()
    assert not LogCounter.objects.filter(object_id=str(process.pk)).exists()
    assert keep.log_count() == 1
