"""The Django internals djprocess relies on, in one place.

Django has no public API for what the log writer needs to know about a connection: which
transaction is current, what waits for its commit, which blocks are the caller's. Every such
read or write goes through this module; ``tests/unit/djprocess/test_django.py`` pins each
assumption and fails the day a Django release changes one.

* **The current transaction** is the identity of ``connection.run_on_commit``: Django replaces
  that list with a new one at each commit or rollback of the outermost block
  (:func:`transaction_token`).
* **What waits for the commit**: the callables in ``run_on_commit`` (:func:`pending_callbacks`).
* **Marks** djprocess keeps on a connection are attributes named ``_djprocess_<name>``
  (:func:`mark`, :func:`get_mark`, :func:`marked_in_this_transaction`); a
  ``DatabaseWrapper`` is a plain object, one per thread and alias.
* **The caller's blocks**: ``connection.atomic_blocks``, without the blocks a Django
  ``TestCase`` wraps each test in (marked ``_from_testcase``) (:func:`callers_atomic_blocks`).
* **An INSERT of prepared rows** with no ``RETURNING`` and no signals: ``InsertQuery``
  (:func:`insert_rows`), what ``bulk_create()`` runs underneath, without its per-object
  bookkeeping.

Why a side connection at all (rather than a documented "log" database alias that users
configure): the lines must survive the caller's rollback with no setting to get right, on
the caller's own database and credentials, behind PgBouncer too; a second alias would be a
second thing to configure and, under Django's test cases, a second database to allow.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db import transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Field, Model

__all__ = [
    "callers_atomic_blocks",
    "get_mark",
    "insert_rows",
    "is_in_memory_db",
    "mark",
    "mark_this_transaction",
    "marked_in_this_transaction",
    "pending_callbacks",
    "state",
    "transaction_token",
]

_PREFIX = "_djprocess_"


def transaction_token(conn: BaseDatabaseWrapper) -> object:
    """An object that stays the same for the life of ``conn``'s current transaction and is
    replaced at its commit or rollback (compare it with ``is``)."""
    return conn.run_on_commit


def pending_callbacks(conn: BaseDatabaseWrapper) -> list[Any]:
    """The callables ``transaction.on_commit()`` registered on ``conn`` that still wait for
    the commit (a callback of a savepoint that rolled back is gone)."""
    return [item[1] for item in conn.run_on_commit]


def get_mark(conn: BaseDatabaseWrapper, name: str, default: Any = None) -> Any:
    """The value djprocess marked ``conn`` with under ``name`` (``default`` if none)."""
    return getattr(conn, _PREFIX + name, default)


def mark(conn: BaseDatabaseWrapper, name: str, value: Any) -> None:
    """Mark ``conn`` with ``value`` under ``name`` (read back with :func:`get_mark`)."""
    setattr(conn, _PREFIX + name, value)


def state(conn: BaseDatabaseWrapper, name: str) -> list[Any]:
    """The list kept on ``conn`` under ``name``, created empty at the first call."""
    value: list[Any] | None = get_mark(conn, name)
    if value is None:
        value = []
        mark(conn, name, value)
    return value


def mark_this_transaction(conn: BaseDatabaseWrapper, name: str) -> None:
    """Mark ``conn``'s current transaction under ``name``: :func:`marked_in_this_transaction`
    is True until it commits or rolls back."""
    mark(conn, name, transaction_token(conn))


def marked_in_this_transaction(conn: BaseDatabaseWrapper, name: str) -> bool:
    """True if :func:`mark_this_transaction` marked ``conn``'s current transaction."""
    return get_mark(conn, name) is transaction_token(conn)


def callers_atomic_blocks(using: str) -> list[Any]:
    """The ``atomic()`` blocks open on ``using``'s connection in this thread, without those a
    Django ``TestCase`` wraps each test in."""
    blocks = transaction.get_connection(using).atomic_blocks
    return [block for block in blocks if not getattr(block, "_from_testcase", False)]


def is_in_memory_db(conn: BaseDatabaseWrapper) -> bool:
    """True for an in-memory SQLite database (it exists only in this process's memory)."""
    in_memory = getattr(conn, "is_in_memory_db", None)
    return bool(callable(in_memory) and in_memory())


def insert_rows(
    conn: BaseDatabaseWrapper,
    model: type[Model],
    fields: Sequence[Field[Any, Any]],
    objs: Sequence[Model],
) -> None:
    """``INSERT`` ``objs`` (instances of ``model`` with their values set) into ``model``'s
    table on ``conn``, one statement, ``fields`` only, nothing returned, no signals."""
    from django.db.models.sql import InsertQuery

    query = InsertQuery(model)
    query.insert_values(fields, list(objs), raw=False)
    query.get_compiler(connection=conn).execute_sql(returning_fields=None)
