"""Issue 6, model and API input: timeouts, pagination arguments, and calls made at the
wrong time each get a documented answer."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.core.paginator import EmptyPage, PageNotAnInteger
from django.test import override_settings
from recording_backend import RecordingBackend

from djprocess import status
from djprocess.exceptions import ProcessNotSaved, ProcessNotStartable
from djprocess.validators import MAX_TIMEOUT
from djprocess_example.models import ExampleProcess

MakeProcess = Callable[..., ExampleProcess]

BAD_TIMEOUTS = [
    (timedelta(0), "timeout must be positive, got 0:00:00"),
    (timedelta(seconds=-1), "timeout must be positive"),
    (timedelta(microseconds=-1), "timeout must be positive"),
    (MAX_TIMEOUT + timedelta(seconds=1), "is above the maximum 365 days"),
    (timedelta(days=999_999_999), "is above the maximum"),
]


# -- timeout ----------------------------------------------------------------------


@pytest.mark.parametrize(("timeout", "text"), BAD_TIMEOUTS)
def test_start_refuses_a_bad_timeout_naming_the_field(
    make_process: MakeProcess, backend: RecordingBackend, timeout: timedelta, text: str
) -> None:
    process = make_process()
    process.timeout = timeout

    with pytest.raises(ValidationError) as caught:
        process.start()

    assert list(caught.value.message_dict) == ["timeout"]
    assert text in caught.value.message_dict["timeout"][0]
    assert backend.dispatched == []
    row = ExampleProcess.objects.get(pk=process.pk)
    assert row.dispatched_at is None
    assert row.timeout == timedelta(minutes=20)


@pytest.mark.parametrize("timeout", [5, 2.5, "0:05:00", None])
def test_start_refuses_a_timeout_that_is_not_a_timedelta(
    make_process: MakeProcess, backend: RecordingBackend, timeout: object
) -> None:
    process = make_process()
    process.timeout = timeout
    with pytest.raises(ValidationError, match=r"timeout must be a datetime\.timedelta"):
        process.start()
    assert backend.dispatched == []


@pytest.mark.parametrize(("timeout", "text"), BAD_TIMEOUTS)
def test_full_clean_reports_a_bad_timeout_on_the_field(timeout: timedelta, text: str) -> None:
    process = ExampleProcess(kind="succeed", timeout=timeout)
    with pytest.raises(ValidationError) as caught:
        process.full_clean()
    assert list(caught.value.message_dict) == ["timeout"]
    assert text in caught.value.message_dict["timeout"][0]


def test_sub_second_timeout_is_dispatched_exactly(
    make_process: MakeProcess, backend: RecordingBackend
) -> None:
    process = make_process()
    process.timeout = timedelta(milliseconds=1500)
    process.start()
    assert ExampleProcess.objects.get(pk=process.pk).timeout_seconds() == 1.5


# -- paginate_logs ------------------------------------------------------------------


@pytest.fixture
def logged(make_process: MakeProcess) -> ExampleProcess:
    """A process with 25 log lines."""
    process = make_process()
    for number in range(1, 26):
        process.log(f"line {number}")
    return process


@pytest.mark.parametrize(
    ("page", "per_page", "first", "count"),
    [
        (1, 10, 1, 10),
        (3, 10, 21, 5),
        ("last", 10, 21, 5),
        ("2", 10, 11, 10),
        (1, 1000, 1, 25),
        (2.0, 10, 11, 10),
    ],
)
def test_good_pages(
    logged: ExampleProcess, page: int | str, per_page: int, first: int, count: int
) -> None:
    result = logged.paginate_logs(page=page, per_page=per_page)
    assert [entry.sequence for entry in result] == list(range(first, first + count))


@pytest.mark.parametrize("page", [0, -1, 4, 10**9])
def test_pages_out_of_range_raise_empty_page(logged: ExampleProcess, page: int) -> None:
    with pytest.raises(EmptyPage):
        logged.paginate_logs(page=page, per_page=10)


@pytest.mark.parametrize("page", ["abc", "", "first", None, 1.5, "1.5", [1], True, False])
def test_pages_that_are_not_integers_raise_page_not_an_integer(
    logged: ExampleProcess, page: object
) -> None:
    with pytest.raises(PageNotAnInteger):
        logged.paginate_logs(page=page, per_page=10)  # type: ignore[arg-type]


def test_empty_log_has_an_empty_first_page(make_process: MakeProcess) -> None:
    process = make_process()
    assert list(process.paginate_logs(page=1)) == []
    assert list(process.paginate_logs(page="last")) == []
    with pytest.raises(EmptyPage):
        process.paginate_logs(page=2)


@pytest.mark.parametrize(
    ("per_page", "text"),
    [
        (0, "per_page must be an integer >= 1, got 0"),
        (-5, "per_page must be an integer >= 1, got -5"),
        ("10", "per_page must be an integer >= 1, got '10'"),
        (2.5, "per_page must be an integer >= 1, got 2.5"),
        (True, "per_page must be an integer >= 1, got True"),
        (None, "per_page must be an integer >= 1, got None"),
        (1001, "per_page=1001 is above DJPROCESS_LOG_MAX_PER_PAGE=1000"),
        (10**12, "is above DJPROCESS_LOG_MAX_PER_PAGE=1000"),
    ],
)
def test_bad_per_page_raises_value_error_naming_it(
    logged: ExampleProcess, per_page: object, text: str
) -> None:
    with pytest.raises(ValueError, match=text.replace("(", r"\(")):
        logged.paginate_logs(page=1, per_page=per_page)  # type: ignore[arg-type]


def test_the_per_page_cap_is_the_setting(logged: ExampleProcess) -> None:
    with override_settings(DJPROCESS_LOG_MAX_PER_PAGE=5):
        assert len(logged.paginate_logs(page=1, per_page=5)) == 5
        with pytest.raises(ValueError, match="DJPROCESS_LOG_MAX_PER_PAGE=5"):
            logged.paginate_logs(page=1, per_page=6)


# -- calls at the wrong time ---------------------------------------------------------


@pytest.mark.parametrize("action", ["start", "cancel", "execute"])
def test_unsaved_instance(action: str, backend: RecordingBackend) -> None:
    with pytest.raises(ProcessNotSaved, match=rf"cannot {action}\(\) an unsaved"):
        getattr(ExampleProcess(kind="succeed"), action)()
    assert backend.dispatched == []


def test_start_twice(make_process: MakeProcess, backend: RecordingBackend) -> None:
    process = make_process()
    process.start()
    with pytest.raises(ProcessNotStartable, match="already dispatched"):
        process.start()
    assert len(backend.dispatched) == 1


def test_execute_on_a_finished_process_returns_its_status_and_runs_nothing(
    make_process: MakeProcess,
) -> None:
    process = make_process("fail")
    assert process.execute() == status.FAILED
    lines = process.logs.count()
    assert process.execute() == status.FAILED
    assert process.logs.count() == lines
    assert ExampleProcess.objects.get(pk=process.pk).attempts == 1
