"""Issue 6, ``log()`` input: whatever a run logs, the run goes on and the line is stored
in a documented, readable form (escaped, or truncated with a marker), never dropped."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.test import override_settings
from unit_helpers import messages

from djprocess import status
from djprocess.conf import DEFAULTS
from djprocess.logs.sanitize import INVALID_LEVEL_KEY
from djprocess_example.models import ExampleProcess

MakeProcess = Callable[..., ExampleProcess]
CustomRun = Callable[[Callable[[ExampleProcess], None]], str]

TEN_MB = 10 * 1024 * 1024


class Unserialisable:
    def __repr__(self) -> str:
        return "<Unserialisable>"


def bad_lines(self: ExampleProcess) -> None:
    self.log("nul \x00 byte")
    self.log("lone \udc80 surrogate")
    self.log("x" * TEN_MB)
    self.log(12345)
    self.log(b"raw \xff bytes")
    self.log("odd level", level="LOUD")
    self.log("odd level number", level=33)
    self.log("extra", extra={"obj": Unserialisable(), "nan": float("nan"), 1: {2}})  # type: ignore[dict-item]
    self.log("the run went on")


def test_a_run_logging_bad_input_goes_on_and_keeps_every_line(
    make_process: MakeProcess, custom_run: CustomRun
) -> None:
    process = make_process(custom_run(bad_lines))

    assert process.execute() == status.SUCCEEDED

    rows = list(process.logs.order_by("sequence"))
    assert [row.sequence for row in rows] == list(range(1, len(rows) + 1))
    body = rows[1:-1]  # between "started on …" and "succeeded in …"
    assert len(body) == 9
    assert body[0].message == "nul \\x00 byte"
    assert body[1].message == "lone \\udc80 surrogate"
    limit = DEFAULTS["DJPROCESS_LOG_MAX_MESSAGE_LENGTH"]
    assert body[2].message.startswith("x" * limit + "\n[djprocess: message truncated, ")
    assert f"{limit} of {TEN_MB} characters kept" in body[2].message
    assert len(body[2].message) < limit + 200
    assert body[3].message == "12345"
    assert body[4].message == "raw \\xff bytes"
    assert (body[5].level, body[5].message) == ("INFO", "odd level")
    assert body[5].extra == {INVALID_LEVEL_KEY: "'LOUD'"}
    assert (body[6].level, body[6].message) == ("WARNING", "odd level number")
    assert body[7].extra == {"obj": "<Unserialisable>", "nan": "nan", "1": "{2}"}
    assert body[8].message == "the run went on"


def test_cleaned_lines_read_back_through_pagination(make_process: MakeProcess) -> None:
    process = make_process()
    process.log("a\x00b")
    page = process.paginate_logs(page=1, per_page=10)
    assert [entry.message for entry in page] == ["a\\x00b"]


def test_the_message_limit_is_a_setting(make_process: MakeProcess) -> None:
    process = make_process()
    with override_settings(DJPROCESS_LOG_MAX_MESSAGE_LENGTH=5):
        process.log("0123456789")
    assert messages(process) == [
        "01234\n[djprocess: message truncated, 5 of 10 characters kept "
        "(DJPROCESS_LOG_MAX_MESSAGE_LENGTH)]"
    ]


def test_log_many_cleans_each_entry(make_process: MakeProcess) -> None:
    from djprocess.logs import LogEntry

    process = make_process()
    entries: list[Any] = [
        LogEntry(message="\x00", level="nope"),
        LogEntry(message=None, extra={"k": Unserialisable()}),
    ]
    assert process.log_many(entries) == [1, 2]
    assert messages(process) == ["\\x00", "None"]
