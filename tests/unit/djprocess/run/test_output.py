"""``djprocess.run.output``: what a run sends back becomes log lines, in order."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest
from django.db import connection, transaction
from django.test import override_settings

from djprocess.run import output as output_module
from djprocess.run.output import BATCH_LINES, MAX_LINE_BYTES, RunOutput
from djprocess.run.relay import encode
from djprocess_example.models import ExampleProcess

pytestmark = pytest.mark.django_db(transaction=True)


def test_output_and_report_lines_are_written_in_the_order_read() -> None:
    process = ExampleProcess.objects.create(kind="quiet")
    output = RunOutput(process)
    out, err = output.output_feeder("INFO"), output.output_feeder("WARNING")
    out(b"first\nsec")
    err(b"oops\n")
    out(b"ond\r\n")
    output.feed_report(encode({"log": [{"message": "relayed", "level": "ERROR"}]}))
    output.feed_report(encode({"progress": [2, 5]}) + b"not json\n")
    output.feed_report(encode({"result": "succeeded"})[:-3])
    output.feed_report(encode({"result": "succeeded"})[-3:])
    out(b"no newline at the end")
    out(b"")
    output.close()
    lines = [(line.level, line.message) for line in process.logs.order_by("sequence")]
    assert lines == [
        ("INFO", "first"),
        ("WARNING", "oops"),
        ("INFO", "second"),
        ("ERROR", "relayed"),
        ("INFO", "not json"),
        ("INFO", "no newline at the end"),
    ]
    process.refresh_from_db()
    assert (process.progress_current, process.progress_total) == (2, 5)
    assert output.report == {"result": "succeeded"}


@override_settings(DJPROCESS_LOG_MAX_MESSAGE_LENGTH=1_000_000)
def test_a_long_line_is_cut_and_a_long_report_is_not() -> None:
    process = ExampleProcess.objects.create(kind="quiet")
    output = RunOutput(process)
    output.output_feeder("INFO")(b"x" * (MAX_LINE_BYTES * 2 + 5) + b"\n")
    output.feed_report(encode({"out": "y" * (MAX_LINE_BYTES * 2)}))
    output.close()
    sizes = [len(line.message) for line in process.logs.order_by("sequence")]
    assert sizes == [MAX_LINE_BYTES, MAX_LINE_BYTES, 5, MAX_LINE_BYTES * 2]


def test_lines_of_a_deleted_process_are_dropped() -> None:
    process = ExampleProcess.objects.create(kind="quiet")
    output = RunOutput(process)
    ExampleProcess.objects.filter(pk=process.pk).delete()
    output.output_feeder("INFO")(b"into the void\n")
    output.close()
    assert output.dropped == 1
    assert output.written == 0


def test_progress_and_lines_after_the_process_was_deleted_are_dropped() -> None:
    process = ExampleProcess.objects.create(kind="quiet")
    output = RunOutput(process)
    ExampleProcess.objects.filter(pk=process.pk).delete()
    output.feed_report(encode({"progress": [1, 2]}))
    output.feed_report(encode({"log": [{"message": "a"}, {"message": "b"}]}))
    output.output_feeder("INFO")(b"c\n")
    output.close()
    assert (output.written, output.dropped) == (0, 3)


def wait_for(condition: Callable[[], object], seconds: float, what: str) -> None:
    """Poll ``condition`` until it is true; fail after ``seconds``."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def writer_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("djprocess-output-")]


def test_report_lines_that_are_not_objects_and_log_entries_that_are_not_are_ignored() -> None:
    process = ExampleProcess.objects.create(kind="quiet")
    output = RunOutput(process)
    output.feed_report(b'[1, 2]\n"a string"\n42\nnull\n')
    output.feed_report(encode({"log": ["not an entry", 7, {"message": "kept", "level": "ERROR"}]}))
    output.close()
    lines = [(line.level, line.message) for line in process.logs.order_by("sequence")]
    assert lines == [("ERROR", "kept")]
    assert output.report == {}


@override_settings(DJPROCESS_LOG_MAX_MESSAGE_LENGTH=1_000_000)
def test_a_long_line_is_cut_before_its_newline_arrives() -> None:
    process = ExampleProcess.objects.create(kind="quiet")
    output = RunOutput(process)
    feed = output.output_feeder("INFO")
    feed(b"x" * (MAX_LINE_BYTES + 10))  # no newline yet: a whole line's worth is written
    wait_for(lambda: output.written == 1, 30, "the first piece to be written")
    feed(b"yz\n")
    output.close()
    sizes = [len(line.message) for line in process.logs.order_by("sequence")]
    assert sizes == [MAX_LINE_BYTES, 12]
    assert process.logs.order_by("sequence").last().message == "x" * 10 + "yz"  # type: ignore[union-attr]


def test_closing_an_output_nothing_was_fed_to_writes_nothing_and_starts_no_writer() -> None:
    process = ExampleProcess.objects.create(kind="quiet")
    before = writer_threads()
    output = RunOutput(process)
    output.close()
    assert writer_threads() == before
    assert (output.written, output.dropped) == (0, 0)
    assert process.logs.count() == 0


def test_more_lines_than_one_batch_are_all_written_in_order() -> None:
    process = ExampleProcess.objects.create(kind="quiet")
    output = RunOutput(process)
    count = BATCH_LINES * 2 + 500
    output.output_feeder("INFO")(b"".join(b"line %d\n" % n for n in range(count)))
    output.close()
    assert output.written == count
    found = list(process.logs.order_by("sequence").values_list("sequence", "message"))
    assert found == [(n + 1, f"line {n}") for n in range(count)]


def test_once_the_process_is_deleted_the_later_output_is_dropped_unwritten() -> None:
    process = ExampleProcess.objects.create(kind="quiet")
    output = RunOutput(process)
    feed = output.output_feeder("INFO")
    feed(b"written\n")
    wait_for(lambda: output.written == 1, 30, "the first line to be written")
    ExampleProcess.objects.filter(pk=process.pk).delete()
    # Lines, then progress, in one message: the lines fail, the progress is not tried.
    output.feed_report(encode({"log": [{"message": "a"}, {"message": "b"}], "progress": [1, 2]}))
    wait_for(lambda: output.dropped == 2, 30, "the lines of the deleted process to be dropped")
    feed(b"later\nand later\n")
    output.close()
    assert (output.written, output.dropped) == (1, 4)


@pytest.mark.skipif(
    connection.vendor != "sqlite",
    reason="the outage is SQLite's write lock, held by another connection",
)
def test_lines_not_written_through_an_outage_longer_than_the_retries_are_dropped_and_said(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(output_module, "WRITE_RETRY_SECONDS", 0.3)
    process = ExampleProcess.objects.create(kind="quiet")
    output = RunOutput(process)
    feed = output.output_feeder("WARNING")
    with transaction.atomic():
        # This connection's open write transaction: the writer's connection cannot write.
        ExampleProcess.objects.filter(pk=process.pk).update(lines=9)
        feed(b"lost in the outage\n")
        wait_for(lambda: output.dropped == 1, 30, "the line to be given up")
        transaction.set_rollback(True)
    feed(b"after the outage\n")
    output.close()
    assert [line.message for line in process.logs.all()] == ["after the outage"]
    assert (output.written, output.dropped) == (1, 1)
    assert f"ExampleProcess pk={process.pk}: 1 output line(s) not written: " in caplog.text
    assert "locked" in caplog.text
