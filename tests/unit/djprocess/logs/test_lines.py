"""Log writing and reading: sequences, batch API, bounded pagination, cursor, progress,
logging capture, retention. Runs on SQLite (default) and PostgreSQL
(``--ds=djprocess_test_settings.postgres``)."""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.core.paginator import EmptyPage, PageNotAnInteger, Paginator
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from djprocess import status
from djprocess._transitions import compare_and_set
from djprocess.logs import LogEntry
from djprocess.logs import capture as logcapture
from djprocess.models import LogCounter
from djprocess_example.models import ExampleProcess, ExampleProcessLog

Make = Callable[..., ExampleProcess]


@pytest.fixture
def make(db: None) -> Make:
    def make(**fields: Any) -> ExampleProcess:
        fields.setdefault("seconds", 0)
        fields.setdefault("lines", 1)
        return ExampleProcess.objects.create(**fields)

    return make


def sequences(process: ExampleProcess) -> list[int]:
    return list(process.logs.order_by("sequence").values_list("sequence", flat=True))


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


# -- logging capture --------------------------------------------------------------------------


def test_records_inside_run_are_captured_with_their_level(make: Make) -> None:
    library = logging.getLogger("some.library")
    process, other = make(), make()
    with logcapture.capture(process):
        library.warning("disk %s full", "/tmp")
        library.debug("too chatty")  # below DJPROCESS_LOG_CAPTURE_LEVEL
        logging.getLogger("djprocess.run.runner").warning("ours: not repeated")
        with logcapture.capture(other):
            library.error("for the other one")
    library.warning("outside any run")
    lines = [(line.level, line.message, line.extra) for line in process.logs.all()]
    assert lines == [("WARNING", "disk /tmp full", {"logger": "some.library"})]
    assert [line.message for line in other.logs.all()] == ["for the other one"]


@pytest.mark.parametrize(
    "name",
    [
        "djprocess",
        "djprocess.logs",
        "djprocess_celery",
        "djprocess_celery.tasks",
        "djprocess_celery.backend",
        "celery",
        "celery.worker.strategy",
        "celery.app.trace",
        "kombu.connection",
        "amqp.connection",
        "billiard.pool",
        "django.db.backends",
    ],
)
def test_djprocess_and_worker_internals_are_not_captured(make: Make, name: str) -> None:
    process = make()
    with logcapture.capture(process):
        logging.getLogger(name).error("internal")
    assert process.log_count() == 0


@pytest.mark.parametrize("name", ["djprocess_example.work", "celeryish", "kombucha.brew", "app"])
def test_loggers_that_only_look_alike_are_captured(make: Make, name: str) -> None:
    process = make()
    with logcapture.capture(process):
        logging.getLogger(name).error("user code")
    assert [line.message for line in process.logs.all()] == ["user code"]


def test_capture_level_setting(make: Make) -> None:
    process = make()
    logger = logging.getLogger("some.library")
    with override_settings(DJPROCESS_LOG_CAPTURE_LEVEL="ERROR"), logcapture.capture(process):
        logger.warning("dropped")
        logger.error("kept")
    assert [line.message for line in process.logs.all()] == ["kept"]


def test_threads_are_captured_only_with_propagate(transactional_db: None) -> None:
    # Committed rows: a thread has its own connection.
    process = ExampleProcess.objects.create()
    logger = logging.getLogger("some.library")

    def work(text: str) -> None:
        try:
            logger.warning(text)
        finally:
            connection.close()

    with logcapture.capture(process):
        plain = threading.Thread(target=work, args=("plain thread",))
        wrapped = threading.Thread(target=logcapture.propagate(work), args=("propagated",))
        for thread in (plain, wrapped):
            thread.start()
            thread.join()
    assert [line.message for line in process.logs.all()] == ["propagated"]


def test_run_captures_library_logger(make: Make) -> None:
    process = make(kind="succeed", lines=1)
    assert process.execute() == status.SUCCEEDED
    messages = list(process.logs.values_list("message", flat=True))
    assert "a library logger speaking from inside run()" in messages
    assert sequences(process) == list(range(1, len(messages) + 1))


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


def _finished(make: Make, state: str, ago: timedelta) -> ExampleProcess:
    process = make()
    process.log("line")
    ExampleProcess.objects.filter(pk=process.pk).update(
        status=state, finished_at=timezone.now() - ago
    )
    return process


def test_purge_deletes_old_finished_processes_in_batches(
    make: Make, capsys: pytest.CaptureFixture[str]
) -> None:
    old = [_finished(make, status.SUCCEEDED, timedelta(days=40)) for _ in range(5)]
    old_failed = _finished(make, status.FAILED, timedelta(days=40))
    young = _finished(make, status.SUCCEEDED, timedelta(days=1))
    running = make()
    ExampleProcess.objects.filter(pk=running.pk).update(status=status.RUNNING)
    call_command("djprocess_purge", "--older-than", "30d", "--dry-run")
    assert "would delete 6 processes" in capsys.readouterr().out
    assert ExampleProcess.objects.count() == 8
    call_command(
        "djprocess_purge",
        *("--older-than", "30d", "--status", "succeeded", "--batch-size", "2", "--verbosity", "2"),
    )
    out = capsys.readouterr().out
    assert "deleted 5 processes and 5 log lines" in out
    batches = [line.split(": ")[1] for line in out.splitlines() if "a batch" in line]
    assert batches == ["deleted a batch of 2 processes"] * 2 + ["deleted a batch of 1 processes"]
    remaining = set(ExampleProcess.objects.values_list("pk", flat=True))
    assert remaining == {old_failed.pk, young.pk, running.pk}
    assert not ExampleProcessLog.objects.filter(process_id__in=[p.pk for p in old]).exists()
    call_command(
        "djprocess_purge", "--older-than", "2w", "--model", "djprocess_example.ExampleProcess"
    )
    assert set(ExampleProcess.objects.values_list("pk", flat=True)) == {young.pk, running.pk}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--older-than", "30"], "'30'"),
        (["--older-than", "30y"], "'30y'"),
        (["--older-than", "1d", "--status", "running"], "'running'"),
        (["--older-than", "1d", "--batch-size", "0"], "batch-size"),
        (["--older-than", "1d", "--model", "auth.user"], "auth.user"),
    ],
)
def test_purge_bad_arguments(db: None, args: list[str], message: str) -> None:
    with pytest.raises(CommandError, match=re.escape(message)):
        call_command("djprocess_purge", *args)
