"""The statements that number and store log lines, on a connection chosen by the caller.

Each process's last sequence lives in :class:`djprocess.models.LogCounter`, keyed by the
*concrete* process model's label and the primary key (a proxy model shares its concrete
model's rows, so it shares its counter). Bumping the counter and inserting the lines happen
in one transaction, so sequences stay ``1..n`` without gaps whatever writes concurrently.

On PostgreSQL a write of at most :data:`INSERT_CHUNK` lines is **one statement**, a
data-modifying CTE that bumps the counter (checking that the process exists) and inserts the
lines numbered from its new value: in autocommit it is its own transaction, one round trip.
Elsewhere (SQLite, other databases, bigger batches) it is an upsert of the counter followed by
``INSERT``\\ s, which the caller must run inside a transaction or savepoint
(:func:`needs_transaction`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast

from django.apps import apps
from django.db import IntegrityError
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Field, Model

from djprocess import _django

if TYPE_CHECKING:
    from djprocess.models import BaseProcess

#: Lines per ``INSERT`` statement (and the most one single-statement write takes).
INSERT_CHUNK = 1000

#: Statement texts by shape (backend class, models, lines): built once, not per line.
_SQL: dict[tuple[Any, ...], str] = {}

#: One line ready to store: ``(message, level, extra, created)``.
Row = tuple[str, str, dict[str, Any], datetime]


def counter_label(model: type[Model]) -> str:
    """The counter key of a process model: its concrete model's ``app_label.modelname``."""
    return model._meta.concrete_model._meta.label_lower  # type: ignore[union-attr]


@dataclass(frozen=True)
class Target:
    """Which process a write is for (its identity survives the instance)."""

    model: type[BaseProcess]
    pk: Any
    created: datetime | None

    @classmethod
    def of(cls, process: BaseProcess) -> Target:
        return cls(type(process), process.pk, getattr(process, "created", None))

    @property
    def label(self) -> str:
        """The counter key (see :func:`counter_label`)."""
        return counter_label(self.model)


def needs_transaction(conn: BaseDatabaseWrapper, count: int) -> bool:
    """True if storing ``count`` lines on ``conn`` takes more than one statement."""
    return conn.vendor != "postgresql" or count > INSERT_CHUNK


def store(conn: BaseDatabaseWrapper, target: Target, rows: Sequence[Row]) -> list[int]:
    """Number ``rows`` and insert them on ``conn``; returns their sequences (consecutive).

    Raises ``DoesNotExist`` if the process row is not visible to ``conn``. When
    :func:`needs_transaction` is true the caller must have opened a transaction.
    """
    if needs_transaction(conn, len(rows)):
        return _bump_then_insert(conn, target, rows)
    return _one_statement(conn, target, rows)


# -- shared pieces ------------------------------------------------------------------------------


def _log_rows(target: Target, rows: Sequence[Row]) -> tuple[list[Field[Any, Any]], list[Model]]:
    """The log model's insertable fields and unsaved instances (``sequence`` left 0), so that
    fields a user added to the log model get their defaults as with ``create()``."""
    log_model, fk_name = target.model.log_model()
    objs: list[Model] = [
        log_model(
            **{f"{fk_name}_id": target.pk},
            sequence=0,
            level=level,
            message=message,
            extra=extra,
            created=created,
        )
        for message, level, extra, created in rows
    ]
    fields = [
        f
        for f in log_model._meta.concrete_fields
        if not f.primary_key and not getattr(f, "generated", False)
    ]
    return fields, objs


def _counter_upsert(conn: BaseDatabaseWrapper, target: Target) -> tuple[str, list[Any]]:
    """``INSERT … ON CONFLICT DO UPDATE … RETURNING value`` for the counter of ``target``,
    adding a count given as the first parameter; no row if the process does not exist."""
    LogCounter = apps.get_model("djprocess", "LogCounter")

    qn = conn.ops.quote_name
    meta = target.model._meta
    table = qn(LogCounter._meta.db_table)
    sql = (
        f"INSERT INTO {table} ({qn('model')}, {qn('object_id')}, {qn('value')}) "
        f"SELECT %s, %s, %s WHERE EXISTS (SELECT 1 FROM {qn(meta.db_table)} "
        f"WHERE {qn(str(meta.pk.column))} = %s) "
        f"ON CONFLICT ({qn('model')}, {qn('object_id')}) "
        f"DO UPDATE SET {qn('value')} = {table}.{qn('value')} + excluded.{qn('value')} "
        f"RETURNING {qn('value')}"
    )
    return sql, [target.label, str(target.pk), meta.pk.get_db_prep_value(target.pk, conn)]


def _sequence_column(log_model: type[Model]) -> str:
    return str(log_model._meta.get_field("sequence").column)  # type: ignore[union-attr]


def _missing(conn: BaseDatabaseWrapper, target: Target) -> Exception:
    return target.model.DoesNotExist(f"process pk={target.pk!r} does not exist")


# -- PostgreSQL: one statement --------------------------------------------------------------


def _one_statement(conn: BaseDatabaseWrapper, target: Target, rows: Sequence[Row]) -> list[int]:
    fields, objs = _log_rows(target, rows)
    if len(objs) > 1:
        types = [f.db_type(conn) for f in fields if f.attname != "sequence"]
        if all(types):
            return _unnest_statement(conn, target, fields, objs, cast(list[str], types))
    return _values_statement(conn, target, fields, objs)


def _unnest_statement(
    conn: BaseDatabaseWrapper,
    target: Target,
    fields: list[Field[Any, Any]],
    objs: list[Model],
    types: list[str],
) -> list[int]:
    """Many lines: one array per column, unnested, so the statement's text does not
    grow with the number of lines (the driver parses it once, not once per size)."""
    qn = conn.ops.quote_name
    upsert, upsert_params = _counter_upsert(conn, target)
    count = len(objs)
    columns = [f for f in fields if f.attname != "sequence"]
    arrays = [[f.get_db_prep_save(f.pre_save(obj, True), conn) for obj in objs] for f in columns]
    names = [f"a{index}" for index in range(len(columns))]
    selected = [
        f"c.{qn('value')} - {count} + t.ord"
        if f.attname == "sequence"
        else f"t.a{columns.index(f)}"
        for f in fields
    ]
    log_meta = objs[0]._meta
    sql = (
        f"WITH c AS ({upsert}) "
        f"INSERT INTO {qn(log_meta.db_table)} ({', '.join(qn(str(f.column)) for f in fields)}) "
        f"SELECT {', '.join(selected)} FROM c, unnest("
        + ", ".join(f"%s::{db_type}[]" for db_type in types)
        + f") WITH ORDINALITY AS t({', '.join(names)}, ord) "
        f"RETURNING {qn(_sequence_column(log_meta.model))}"
    )
    with conn.cursor() as cursor:
        cursor.execute(sql, [upsert_params[0], upsert_params[1], count, upsert_params[2], *arrays])
        found = sorted(int(row[0]) for row in cursor.fetchall())
    if not found:  # the counter CTE returned no row: the process does not exist
        raise _missing(conn, target)
    return found


def _values_statement(
    conn: BaseDatabaseWrapper, target: Target, fields: list[Field[Any, Any]], objs: list[Model]
) -> list[int]:
    count = len(objs)
    _, upsert_params = _counter_upsert(conn, target)
    params: list[Any] = [upsert_params[0], upsert_params[1], count, upsert_params[2]]
    for obj in objs:
        params.extend(
            field.get_db_prep_save(field.pre_save(obj, True), conn)
            for field in fields
            if field.attname != "sequence"
        )
    log_meta = objs[0]._meta
    sequence_column = _sequence_column(log_meta.model)
    key = ("values", type(conn), target.model, log_meta.model, count)
    sql = _SQL.get(key)
    if sql is None:
        qn = conn.ops.quote_name
        upsert, _ = _counter_upsert(conn, target)
        tuples: list[str] = []
        for index in range(count):
            # Numbered from the counter's new value; NULL (refused: NOT NULL) if the
            # process does not exist and the CTE returned no row.
            cells = [
                f"(SELECT {qn('value')} FROM c) - {count - 1 - index}"
                if field.attname == "sequence"
                else "%s"
                for field in fields
            ]
            tuples.append(f"({', '.join(cells)})")
        sql = (
            f"WITH c AS ({upsert}) "
            f"INSERT INTO {qn(log_meta.db_table)} "
            f"({', '.join(qn(str(f.column)) for f in fields)}) "
            f"VALUES {', '.join(tuples)} RETURNING {qn(sequence_column)}"
        )
        if count == 1:  # the common shape; other sizes are not worth keeping
            _SQL[key] = sql
    try:
        with conn.cursor() as cursor:
            cursor.execute(sql, params)
            found = sorted(int(row[0]) for row in cursor.fetchall())
    except IntegrityError as exc:
        # The driver's diagnostics (psycopg 2 and 3) name the NOT NULL column: no
        # second query, which a transaction this error broke could not run anyway.
        diag = getattr(exc.__cause__, "diag", None)
        if getattr(diag, "column_name", None) == sequence_column:
            raise _missing(conn, target) from None
        raise
    return found


# -- two steps, inside the caller's transaction -----------------------------------------------


def bump(conn: BaseDatabaseWrapper, target: Target, count: int) -> int:
    """Add ``count`` to the counter of ``target`` and return its new value, in the current
    transaction of ``conn``. Raises ``DoesNotExist`` if the process row is not visible."""
    if conn.vendor not in ("postgresql", "sqlite"):
        return _bump_portable(conn, target, count)
    sql, params = _counter_upsert(conn, target)
    with conn.cursor() as cursor:
        cursor.execute(sql, [params[0], params[1], count, params[2]])
        row = cursor.fetchone()
    if row is None:
        raise _missing(conn, target)
    return int(row[0])


def _bump_portable(conn: BaseDatabaseWrapper, target: Target, count: int) -> int:
    """:func:`bump` in SQL every database takes (``UPDATE``, else ``INSERT``): for the
    databases without ``INSERT … ON CONFLICT``. Runs on the cursor of ``conn`` itself, not
    the ORM, because a side connection is not in ``django.db.connections``.

    The ``UPDATE`` locks the counter row until the transaction ends, so concurrent bumps of
    one process queue there. Two first writes may both find no row; the second ``INSERT``
    then fails on the unique key, inside a savepoint, and the ``UPDATE`` is tried again: it
    sees the first writer's row once that commits.
    """
    LogCounter = apps.get_model("djprocess", "LogCounter")

    qn = conn.ops.quote_name
    meta = target.model._meta
    table, value = qn(LogCounter._meta.db_table), qn("value")
    key = [target.label, str(target.pk)]
    where = f"{qn('model')} = %s AND {qn('object_id')} = %s"
    with conn.cursor() as cursor:
        cursor.execute(
            f"SELECT 1 FROM {qn(meta.db_table)} WHERE {qn(str(meta.pk.column))} = %s",
            [meta.pk.get_db_prep_value(target.pk, conn)],
        )
        if cursor.fetchone() is None:
            raise _missing(conn, target)
        update = f"UPDATE {table} SET {value} = {value} + %s WHERE {where}"
        insert = (
            f"INSERT INTO {table} ({qn('model')}, {qn('object_id')}, {value}) VALUES (%s, %s, %s)"
        )
        for attempt in range(3):
            cursor.execute(update, [count, *key])
            if cursor.rowcount:
                break
            savepoint = conn.savepoint()  # None in autocommit: nothing to roll back
            try:
                cursor.execute(insert, [*key, count])
            except IntegrityError:
                if savepoint is not None:  # a concurrent first write won
                    conn.savepoint_rollback(savepoint)
                if attempt == 2:  # its row stays invisible (a snapshot older than it)
                    raise
                continue
            if savepoint is not None:
                conn.savepoint_commit(savepoint)
            break
        cursor.execute(f"SELECT {value} FROM {table} WHERE {where}", key)
        (new_value,) = cursor.fetchone()
    return int(new_value)


def _bump_then_insert(conn: BaseDatabaseWrapper, target: Target, rows: Sequence[Row]) -> list[int]:
    fields, objs = _log_rows(target, rows)
    last = bump(conn, target, len(objs))
    first = last - len(objs) + 1
    for index, obj in enumerate(objs):
        obj.sequence = first + index  # type: ignore[attr-defined]
    size = max(1, min(INSERT_CHUNK, conn.ops.bulk_batch_size(fields, objs)))
    for start in range(0, len(objs), size):
        _django.insert_rows(conn, objs[0]._meta.model, fields, objs[start : start + size])
    return list(range(first, last + 1))
