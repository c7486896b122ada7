"""``djprocess.logs.capture``: records logged during a run become its log lines.

(Which loggers are captured, at which level, and from which threads:
``test_capture_loggers.py``.)
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest

from djprocess.logs import capture as logcapture
from djprocess_example.models import ExampleProcess

MakeProcess = Callable[..., ExampleProcess]


def test_a_logged_exception_keeps_its_traceback(make_process: MakeProcess) -> None:
    process = make_process()
    with logcapture.capture(process):
        try:
            {}["missing"]
        except KeyError:
            logging.getLogger("some.library").exception("lookup failed")

    (line,) = process.logs.all()
    assert line.level == "ERROR"
    assert line.message.startswith("lookup failed\nTraceback (most recent call last):")
    assert line.message.endswith("KeyError: 'missing'")


def test_a_line_that_cannot_be_written_is_reported_and_the_caller_goes_on(
    make_process: MakeProcess, capsys: pytest.CaptureFixture[str]
) -> None:
    process = make_process()
    ExampleProcess.objects.filter(pk=process.pk).delete()  # its log cannot be written now
    with logcapture.capture(process):
        logging.getLogger("some.library").warning("into a deleted process")
        after = "the caller went on"

    assert after == "the caller went on"
    assert "--- Logging error ---" in capsys.readouterr().err
