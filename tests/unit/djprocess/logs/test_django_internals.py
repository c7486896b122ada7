"""The few Django internals the log writer relies on are still there and behave as assumed.
If one of these fails after a Django upgrade, adapt ``djprocess.logs._sql`` / ``logconn`` /
``logstore`` (the only users)."""

from __future__ import annotations

import inspect

import pytest
from django.db import connection, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.signals import connection_created
from django.db.models.sql import InsertQuery

from djprocess.logs import _connections as logconn


def test_insert_query_api() -> None:
    # logsql._bump_then_insert: InsertQuery(model).insert_values(fields, objs, raw=False)
    # and compiler.execute_sql(returning_fields=None).
    assert "raw" in inspect.signature(InsertQuery.insert_values).parameters
    compiler = InsertQuery.get_compiler
    assert "connection" in inspect.signature(compiler).parameters


def test_wrapper_thread_sharing_and_commit_hooks() -> None:
    # logconn._Side shares one wrapper between threads; logstore keys per-transaction state
    # on the identity of run_on_commit, which Django replaces at each commit or rollback.
    assert callable(BaseDatabaseWrapper.inc_thread_sharing)
    assert isinstance(connection.run_on_commit, list)


@pytest.mark.django_db(transaction=True)
def test_run_on_commit_is_a_new_list_after_each_transaction() -> None:
    with transaction.atomic():
        inside = connection.run_on_commit
        transaction.on_commit(lambda: None)
    assert connection.run_on_commit is not inside


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
        assert getattr(fresh, "_djprocess_opened_by", None) is not None
    finally:
        connection_created.disconnect(receiver)
        fresh.close()
