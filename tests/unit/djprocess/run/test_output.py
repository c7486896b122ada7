"""``djprocess.run.output``: what a run sends back becomes log lines, in order."""

from __future__ import annotations

import pytest
from django.test import override_settings

from djprocess.run.output import MAX_LINE_BYTES, RunOutput
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
