"""Concurrent writers (threads and OS processes, in several write modes) never break the
sequence: exactly 1..n, each writer's lines in its own order, every line stored once."""

from __future__ import annotations

import multiprocessing
import os
import threading
import traceback
from collections import defaultdict

import pytest
from django.db import connections, transaction
from hypothesis import given, settings
from hypothesis import strategies as st

from djprocess.logs import LogEntry
from djprocess.logs import _store as logstore
from djprocess_example.models import ExampleProcess

#: How a writer writes: one line per call, each line inside its own atomic() block (the
#: private connection on PostgreSQL, a savepoint on SQLite), or batches of 3.
MODES = ("direct", "atomic", "batch")

pytestmark = pytest.mark.django_db(transaction=True, databases="__all__")


def write_lines(alias: str, pk: int, writer: str, count: int, mode: str) -> None:
    process = ExampleProcess._base_manager.using(alias).get(pk=pk)
    numbers = list(range(count))
    if mode == "batch":
        for start in range(0, count, 3):
            chunk = numbers[start : start + 3]
            process.log_many(
                [LogEntry(message=f"{writer}:{n}", extra={"w": writer, "n": n}) for n in chunk]
            )
        return
    for n in numbers:
        if mode == "atomic":
            with transaction.atomic(using=alias):
                process.log(f"{writer}:{n}", extra={"w": writer, "n": n})
        else:
            process.log(f"{writer}:{n}", extra={"w": writer, "n": n})


def _thread_writer(
    alias: str, pk: int, writer: str, count: int, mode: str, errors: list[str]
) -> None:
    try:
        write_lines(alias, pk, writer, count, mode)
    except Exception:
        errors.append(traceback.format_exc())
    finally:
        logstore.close_private_connections()
        connections.close_all()


def _process_writer(alias: str, pk: int, writer: str, count: int, mode: str) -> None:
    # A forked child: the parent's connections were closed before the fork.
    code = 0
    try:
        write_lines(alias, pk, writer, count, mode)
    except BaseException:
        traceback.print_exc()
        code = 1
    finally:
        logstore.close_private_connections()
        connections.close_all()
        os._exit(code)


writers = st.lists(
    st.tuples(st.sampled_from(("thread", "process")), st.sampled_from(MODES), st.integers(1, 12)),
    min_size=1,
    max_size=5,
)


@settings(max_examples=40)
@given(plan=writers)
def test_concurrent_writers_keep_sequences_gapless(
    writer_db: str, plan: list[tuple[str, str, int]]
) -> None:
    process = ExampleProcess._base_manager.using(writer_db).create()
    process.log("first", extra={"w": "main", "n": 0})
    connections.close_all()  # nothing open is inherited by a forked writer
    context = multiprocessing.get_context("fork")
    children = []
    for index, (kind, mode, count) in enumerate(plan):
        if kind == "process":
            child = context.Process(
                target=_process_writer, args=(writer_db, process.pk, f"p{index}", count, mode)
            )
            child.start()
            children.append(child)
    errors: list[str] = []
    threads = [
        threading.Thread(
            target=_thread_writer, args=(writer_db, process.pk, f"t{index}", count, mode, errors)
        )
        for index, (kind, mode, count) in enumerate(plan)
        if kind == "thread"
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    for child in children:
        child.join(timeout=120)
    assert not errors, errors[0]
    assert [child.exitcode for child in children] == [0] * len(children)

    lines = list(process.logs.using(writer_db).order_by("sequence"))
    expected_total = 1 + sum(count for _, _, count in plan)
    assert [line.sequence for line in lines] == list(range(1, expected_total + 1))
    assert process.log_count() == expected_total
    per_writer: dict[str, list[int]] = defaultdict(list)
    for line in lines:
        per_writer[line.extra["w"]].append(line.extra["n"])
    assert per_writer.pop("main") == [0]
    for index, (kind, _, count) in enumerate(plan):
        assert per_writer.pop(f"{kind[0]}{index}") == list(range(count))
    assert not per_writer
