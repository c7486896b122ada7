"""``djprocess.models.BaseProcess`` (through ExampleProcess): fields and helpers."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from django.utils import timezone

from djprocess import status
from djprocess.models import DEFAULT_TIMEOUT, BaseProcessLog, LogCounter
from djprocess_example.models import ExampleProcess, ExampleProcessLog

MakeProcess = Callable[..., ExampleProcess]


def test_defaults(make_process: MakeProcess) -> None:
    process = make_process()
    assert process.status == status.PENDING
    assert process.timeout == DEFAULT_TIMEOUT == timedelta(minutes=20)
    assert process.timeout_seconds() == 1200.0
    assert process.dispatched_at is process.started_at is process.finished_at is None
    assert not process.is_terminal
    assert not process.is_finished
    assert process.duration is None
    assert str(process) == f"ExampleProcess #{process.pk} (pending)"


@pytest.mark.parametrize(
    ("timeout", "seconds"),
    [
        (timedelta(microseconds=1), 0.000001),
        (timedelta(milliseconds=1), 0.001),
        (timedelta(milliseconds=250), 0.25),
        (timedelta(seconds=1, microseconds=500_000), 1.5),
        (timedelta(days=365), 31_536_000.0),
    ],
)
def test_timeout_seconds_is_exact_also_after_a_database_round_trip(
    make_process: MakeProcess, timeout: timedelta, seconds: float
) -> None:
    process = make_process(timeout=timeout)
    assert process.timeout_seconds() == seconds
    assert ExampleProcess.objects.get(pk=process.pk).timeout_seconds() == seconds


def test_terminal_finished_and_duration(make_process: MakeProcess) -> None:
    process = make_process()
    process.execute()
    process.refresh_from_db()
    assert process.is_terminal
    assert process.is_finished
    assert process.duration == process.finished_at - process.started_at  # type: ignore[operator]


def test_duration_of_a_running_process_grows(make_process: MakeProcess) -> None:
    process = make_process()
    process.started_at = timezone.now() - timedelta(seconds=5)
    duration = process.duration
    assert duration is not None
    assert duration >= timedelta(seconds=5)


def test_log_model_is_found_from_the_foreign_key() -> None:
    model, fk_name = ExampleProcess.log_model()
    assert model is ExampleProcessLog
    assert issubclass(model, BaseProcessLog)
    assert fk_name == "process"


def test_base_run_is_not_implemented() -> None:
    from djprocess.models import BaseProcess

    with pytest.raises(NotImplementedError, match=r"ExampleProcess.run\(\) is not implemented"):
        BaseProcess.run(ExampleProcess())


def test_a_log_counter_says_whose_lines_it_counts(
    make_process: Callable[..., ExampleProcess],
) -> None:
    process = make_process()
    process.log_many(["one", "two"])
    counter = LogCounter.objects.get(object_id=str(process.pk))
    assert str(counter) == f"djprocess_example.exampleprocess #{process.pk}: 2 lines"
