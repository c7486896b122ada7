"""``djprocess.logs._uninterrupted``: under SIGTERMs a line whose write started is stored,
and the exception comes right after, saying so. Needs concurrent connections: PostgreSQL
(``--ds=djprocess_test_settings.postgres``)."""

from __future__ import annotations

import multiprocessing
import os
import signal
from collections.abc import Iterator

import pytest
from django.db import connection
from log_child import log_under_signals
from unit_helpers import needs_concurrent_connections

from djprocess.logs import _store as logstore
from djprocess_example.models import ExampleProcess

pytestmark = [
    pytest.mark.django_db(transaction=True),
    needs_concurrent_connections,
]


@pytest.fixture(autouse=True)
def _close_side_connections() -> Iterator[None]:
    yield
    logstore.close_private_connections()


def lines(process: ExampleProcess) -> list[tuple[int, str]]:
    return list(process.logs.order_by("sequence").values_list("sequence", "message"))


def test_a_sigterm_never_loses_a_line_being_written() -> None:
    """A process logs in a loop while this one sends it SIGTERMs (each raising
    ProcessTerminated there): every line log() returned is stored, one whose exception says
    it came after the write is stored too, no handler ever raises inside a database round
    trip, and the sequence has no gaps."""
    process = ExampleProcess.objects.create()
    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    child = context.Process(
        target=log_under_signals,
        args=(
            os.environ["DJANGO_SETTINGS_MODULE"],
            connection.settings_dict["NAME"],
            process.pk,
            400,
            theirs,
        ),
    )
    child.start()
    try:
        assert ours.poll(60), "the child did not start"
        assert ours.recv() == "ready"
        sent = 0
        while not ours.poll(0.002):
            assert child.is_alive(), "the child died"
            os.kill(child.pid, signal.SIGTERM)  # type: ignore[arg-type]
            sent += 1
            assert sent < 200_000, "the child never finished"
        outcomes = ours.recv()
    finally:
        child.join(30)
        if child.is_alive():
            child.kill()
    assert child.exitcode == 0
    assert not [o for o in outcomes if o[0] == "error"], outcomes
    raised = [o for o in outcomes if o[0] == "raised"]
    assert raised, "no SIGTERM landed: the test proved nothing"
    assert [o for o in raised if o[3]] == [], "a handler raised inside a database call"
    assert any(o[2] for o in raised), "no SIGTERM arrived during a write"
    stored = {message: sequence for sequence, message in lines(process)}
    assert sorted(stored.values()) == list(range(1, len(stored) + 1))
    for outcome in outcomes:
        message = f"line {outcome[1]}"
        if outcome[0] == "returned":
            assert stored[message] == outcome[2]
        elif any("were stored" in note for note in outcome[2]):
            assert message in stored, outcome
    # (A raise without the note came before the write began or after log() was done.)
