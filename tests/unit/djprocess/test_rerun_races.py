"""``restart()`` races, on real concurrent connections (PostgreSQL:
``--ds=djprocess_test_settings.postgres``; skipped on the in-memory SQLite database).

Each thread has its own database connection; a barrier releases them together, so their
``UPDATE``s really meet in the database, which decides.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.db import connection
from django.test import override_settings
from django.utils import timezone
from recording_backend import PATH, RecordingBackend
from unit_helpers import set_running

from djprocess import status
from djprocess._transitions import compare_and_set
from djprocess.backends import get_backend
from djprocess.exceptions import ProcessNotStartable
from djprocess.logs import _store as logstore
from djprocess.supervision import supervisor
from djprocess_example.models import ExampleProcess

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        django_settings.DATABASES["default"]["ENGINE"].endswith("sqlite3"),
        reason="in-memory SQLite test database: no concurrent connections",
    ),
]

ROUNDS = 20


@pytest.fixture
def recording() -> Iterator[RecordingBackend]:
    with override_settings(DJPROCESS_WORKER_BACKEND=PATH):
        backend = get_backend()
        assert isinstance(backend, RecordingBackend)
        backend.reset()
        yield backend
    logstore.close_private_connections()


def together(*actions: Callable[[], Any]) -> list[Any]:
    """Run ``actions`` at once, one thread (and connection) each; their results or errors."""
    barrier = threading.Barrier(len(actions))
    results: list[Any] = [None] * len(actions)

    def call(index: int, action: Callable[[], Any]) -> None:
        try:
            barrier.wait(timeout=30)
            results[index] = action()
        except BaseException as exc:
            results[index] = exc
        finally:
            logstore.close_private_connections()
            connection.close()

    threads = [threading.Thread(target=call, args=item) for item in enumerate(actions)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
        assert not thread.is_alive()
    return results


def ended(final: str, *, finished: bool = True) -> ExampleProcess:
    process = ExampleProcess.objects.create(seconds=0)
    set_running(process)
    assert compare_and_set(
        process,
        [status.RUNNING],
        final,
        stopped_by="cancel" if final == status.CANCELLED else "",
        finished_at=timezone.now() if finished else None,
    )
    return process


def test_two_concurrent_restarts_exactly_one_wins(recording: RecordingBackend) -> None:
    for _ in range(ROUNDS):
        process = ended(status.FAILED)
        first, second = (ExampleProcess.objects.get(pk=process.pk) for _ in range(2))
        recording.reset()

        results = together(first.restart, second.restart)

        winners = [r for r in results if isinstance(r, ExampleProcess)]
        losers = [r for r in results if isinstance(r, ProcessNotStartable)]
        assert (len(winners), len(losers)) == (1, 1), results
        assert recording.dispatched == [process.pk]
        markers = [m for m in process.logs.values_list("message", flat=True) if "attempt" in m]
        assert markers == ["attempt 1: restart() after the previous run ended failed"]


def test_restart_racing_a_late_stop_never_both(recording: RecordingBackend) -> None:
    """A process cancelled while running whose kill is confirmed while someone restarts
    it: either the restart is refused (stop not confirmed yet) or it runs after the stop
    was recorded; the stop is never recorded on the new run."""
    outcomes = set()
    for _ in range(ROUNDS):
        process = ended(status.CANCELLED, finished=False)
        stopper = ExampleProcess.objects.get(pk=process.pk)
        restarter = ExampleProcess.objects.get(pk=process.pk)
        recording.reset()

        results = together(
            lambda s=stopper: supervisor.kill_and_record(s, get_backend(), "cancelled"),
            restarter.restart,
        )

        row = ExampleProcess.objects.get(pk=process.pk)
        lines = list(row.logs.values_list("message", flat=True))
        if isinstance(results[1], ProcessNotStartable):
            outcomes.add("refused")
            assert (row.status, recording.dispatched) == (status.CANCELLED, [])
            assert row.finished_at is not None
        else:
            outcomes.add("restarted")
            assert isinstance(results[1], ExampleProcess), results
            assert (row.status, row.finished_at) == (status.PENDING, None)
            assert row.stop_signal == ""
            assert row.termination == ""
            assert recording.dispatched == [process.pk]
            # The stop's line comes before the new attempt's marker.
            assert lines.index("cancelled: exited after SIGTERM 1/3") < lines.index(
                "attempt 1: restart() after the previous run ended cancelled"
            )
    assert outcomes  # which outcome each round had is up to the scheduler
