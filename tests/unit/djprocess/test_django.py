"""``djprocess._django``: the Django internals djprocess relies on.

Each test pins one assumption about Django that the adapter makes. If one fails after a
Django upgrade, adapt ``djprocess/_django.py`` (its only user of those internals) and the
callers keep working.
"""

from __future__ import annotations

import pytest
from django.db import connection, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.signals import connection_created

from djprocess import _django
from djprocess.logs import _connections as logconn
from djprocess_example.models import ExampleProcess, ExampleProcessLog


@pytest.mark.django_db(transaction=True)
def test_the_transaction_token_is_replaced_at_commit_and_at_rollback() -> None:
    with transaction.atomic():
        first = _django.transaction_token(connection)
        with transaction.atomic():  # a savepoint is the same transaction
            assert _django.transaction_token(connection) is first
        transaction.on_commit(lambda: None)
    after_commit = _django.transaction_token(connection)
    assert after_commit is not first

    with transaction.atomic():
        inside = _django.transaction_token(connection)
        transaction.on_commit(lambda: None)
        transaction.set_rollback(True)
    assert _django.transaction_token(connection) is not inside


@pytest.mark.django_db(transaction=True)
def test_pending_callbacks_are_those_waiting_for_the_commit() -> None:
    def kept() -> None: ...

    def dropped() -> None: ...

    with transaction.atomic():
        transaction.on_commit(kept)
        with transaction.atomic():
            transaction.on_commit(dropped)
            transaction.set_rollback(True)  # the savepoint rolls back, its callback with it
        assert _django.pending_callbacks(connection) == [kept]
    assert _django.pending_callbacks(connection) == []


@pytest.mark.django_db(transaction=True)
def test_a_transaction_mark_holds_until_the_transaction_ends() -> None:
    with transaction.atomic():
        assert not _django.marked_in_this_transaction(connection, "test-mark")
        _django.mark_this_transaction(connection, "test-mark")
        assert _django.marked_in_this_transaction(connection, "test-mark")
        transaction.on_commit(lambda: None)
    assert not _django.marked_in_this_transaction(connection, "test-mark")


def test_marks_and_state_live_on_the_connection_object() -> None:
    wrapper = connection.copy()
    assert _django.get_mark(wrapper, "test-absent", "default") == "default"
    _django.mark(wrapper, "test-value", 42)
    assert _django.get_mark(wrapper, "test-value") == 42
    kept = _django.state(wrapper, "test-list")
    kept.append("line")
    assert _django.state(wrapper, "test-list") == ["line"]
    assert _django.get_mark(connection, "test-value") is None  # another wrapper, no mark


@pytest.mark.django_db
def test_the_blocks_a_test_case_opens_are_not_the_callers() -> None:
    assert connection.atomic_blocks  # pytest-django's TestCase atomics are open
    assert _django.callers_atomic_blocks("default") == []
    with transaction.atomic():
        assert len(_django.callers_atomic_blocks("default")) == 1


def test_the_unit_test_database_is_in_memory() -> None:
    assert _django.is_in_memory_db(connection) == (
        connection.vendor == "sqlite" and connection.is_in_memory_db()
    )


@pytest.mark.django_db(transaction=True)
def test_insert_rows_inserts_prepared_rows_without_returning_anything() -> None:
    process = ExampleProcess.objects.create(kind="succeed")
    log_model, fk_name = ExampleProcess.log_model()
    objs = [
        log_model(**{f"{fk_name}_id": process.pk}, sequence=number, level="INFO", message=text)
        for number, text in ((1, "one"), (2, "two"))
    ]
    fields = [f for f in log_model._meta.concrete_fields if not f.primary_key]
    _django.insert_rows(connection, log_model, fields, objs)

    stored = ExampleProcessLog.objects.filter(process=process).order_by("sequence")
    assert [(line.sequence, line.message) for line in stored] == [(1, "one"), (2, "two")]
    assert all(obj.pk is None for obj in objs)  # nothing returned, nothing set


def test_wrappers_can_be_shared_between_threads() -> None:
    # logs._connections shares one side-connection wrapper between threads, under a lock.
    wrapper = connection.copy()
    wrapper.inc_thread_sharing()
    assert wrapper.allow_thread_sharing
    wrapper.dec_thread_sharing()
    assert not wrapper.allow_thread_sharing


@pytest.mark.django_db(transaction=True)
def test_connection_created_names_the_wrapper_and_records_the_opener() -> None:
    seen: list[BaseDatabaseWrapper] = []

    def receiver(sender: object, connection: BaseDatabaseWrapper, **kwargs: object) -> None:
        seen.append(connection)

    fresh = connection.copy()
    connection_created.connect(receiver)
    try:
        fresh.ensure_connection()
        assert seen == [fresh]
        assert not logconn.inherited(fresh)
        assert _django.get_mark(fresh, "opened_by") is not None
    finally:
        connection_created.disconnect(receiver)
        fresh.close()
