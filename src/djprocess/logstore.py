"""Where log lines are written, so that they are durable, gapless and rollback-proof.

**The counter.** Each process's last sequence lives in :class:`djprocess.models.LogCounter`
(one row per process, keyed by model label and primary key), not on the process row: a
caller's transaction that saved or updated its process row must not block a log write. One
statement (an upsert) checks that the process exists, bumps the counter and returns the new
value; the lines are inserted in the same transaction, so counter and lines commit or roll
back together and sequences stay ``1..n`` without gaps whatever writes concurrently.

**Which connection.**

* The caller's connection is not inside ``transaction.atomic()``: the lines are written and
  committed on it, in their own transaction.
* It is inside an atomic block, on PostgreSQL: the lines are written on a *private*
  connection (same settings, one per thread, kept open, not registered in
  ``django.db.connections``) and committed there at once, so they survive the caller's
  rollback. That connection uses ``lock_timeout`` (:data:`LOCK_TIMEOUT_MS`): if the caller's
  own transaction holds a lock the write needs (``select_for_update()`` on the process row),
  the write does not wait forever but falls back (below). The process row must be visible to
  the private connection; a row created in the caller's still uncommitted transaction (a test
  wrapped in one transaction) is not, and falls back too.
* Fallback, and always on SQLite inside an atomic block (a second connection cannot write
  while the caller holds SQLite's write lock): the lines are written on the caller's
  connection in a savepoint. They are visible to other connections when the caller commits.
  If the caller's block rolls back instead, the lines are written again (same text, level,
  ``extra`` and ``created``; new sequences) at the next write on that connection or when
  ``run()`` ends, whichever comes first. A caller transaction that is already broken (an
  error inside ``atomic()``) gets its lines deferred the same way (``log()`` returns 0).
"""

from __future__ import annotations

import copy
import logging
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast

from django.db import DatabaseError, connections, router, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import F, Model
from django.db.models.sql import InsertQuery
from django.db.utils import load_backend

if TYPE_CHECKING:
    from djprocess.models import BaseProcess

logger = logging.getLogger("djprocess.logs")

#: How long (ms) a write on the private connection waits for a lock before falling back.
LOCK_TIMEOUT_MS = 2000
#: Lines of a connection remembered for replay after a rollback (beyond: a warning).
MAX_PENDING_LINES = 100_000
#: Rows per INSERT statement.
INSERT_CHUNK = 1000

#: One line ready to store: ``(message, level, extra, created)``.
Row = tuple[str, str, dict[str, Any], datetime]


class _Fallback(Exception):
    """The private connection cannot take this write; use the caller's."""


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
        return self.model._meta.label_lower


class _Marker:
    """An ``on_commit`` callback that records that the caller's transaction committed."""

    fired = False

    def __call__(self) -> None:
        self.fired = True


@dataclass
class _Pending:
    target: Target
    rows: list[Row]
    marker: _Marker | None  # None: deferred, never written


# -- the counter and the insert -------------------------------------------------------------


def _bump(conn: BaseDatabaseWrapper, target: Target, count: int) -> int:
    """Add ``count`` to the counter of ``target`` and return its new value, in the current
    transaction of ``conn``. Raises ``DoesNotExist`` if the process row is not visible."""
    from djprocess.models import LogCounter

    qn = conn.ops.quote_name
    meta = target.model._meta
    key = (target.label, str(target.pk))
    if conn.vendor in ("postgresql", "sqlite"):
        table = qn(LogCounter._meta.db_table)
        sql = (
            f"INSERT INTO {table} ({qn('model')}, {qn('object_id')}, {qn('value')}) "
            f"SELECT %s, %s, %s WHERE EXISTS (SELECT 1 FROM {qn(meta.db_table)} "
            f"WHERE {qn(str(meta.pk.column))} = %s) "
            f"ON CONFLICT ({qn('model')}, {qn('object_id')}) "
            f"DO UPDATE SET {qn('value')} = {table}.{qn('value')} + excluded.{qn('value')} "
            f"RETURNING {qn('value')}"
        )
        with conn.cursor() as cursor:
            cursor.execute(sql, [*key, count, meta.pk.get_db_prep_value(target.pk, conn)])
            row = cursor.fetchone()
        if row is None:
            raise target.model.DoesNotExist(f"process pk={target.pk!r} does not exist")
        return int(row[0])
    # Other databases: the ORM, with the counter row locked.  # pragma: no cover
    alias = conn.alias
    if not target.model._base_manager.using(alias).filter(pk=target.pk).exists():
        raise target.model.DoesNotExist(f"process pk={target.pk!r} does not exist")
    counters = LogCounter._base_manager.using(alias)
    counter, _ = counters.select_for_update().get_or_create(model=key[0], object_id=key[1])
    counters.filter(pk=counter.pk).update(value=F("value") + count)
    return counter.value + count


def _insert(conn: BaseDatabaseWrapper, target: Target, rows: Sequence[Row]) -> list[int]:
    """Number ``rows`` and insert them, in the current transaction of ``conn``."""
    log_model, fk_name = target.model.log_model()
    last = _bump(conn, target, len(rows))
    first = last - len(rows) + 1
    objs: list[Model] = [
        log_model(
            **{f"{fk_name}_id": target.pk},
            sequence=first + index,
            level=level,
            message=message,
            extra=extra,
            created=created,
        )
        for index, (message, level, extra, created) in enumerate(rows)
    ]
    fields = [f for f in log_model._meta.concrete_fields if not f.primary_key]
    size = max(1, min(INSERT_CHUNK, conn.ops.bulk_batch_size(fields, objs)))
    for start in range(0, len(objs), size):
        query = InsertQuery(log_model)
        query.insert_values(fields, objs[start : start + size], raw=False)
        query.get_compiler(connection=conn).execute_sql(returning_fields=None)
    return list(range(first, last + 1))


# -- the private connection -----------------------------------------------------------------

_local = threading.local()
_forked_away: list[BaseDatabaseWrapper] = []  # a forked child must never close these


def _snapshot(settings_dict: dict[str, Any]) -> str:
    keys = ("ENGINE", "NAME", "USER", "PASSWORD", "HOST", "PORT", "OPTIONS")
    return repr([settings_dict.get(key) for key in keys])


def _private(conn: BaseDatabaseWrapper) -> BaseDatabaseWrapper:
    """This thread's private connection to the database of ``conn`` (re-made when the
    source settings changed, e.g. the test database was renamed)."""
    conns: dict[str, tuple[int, str, BaseDatabaseWrapper]] = _local.__dict__.setdefault("conns", {})
    snapshot = _snapshot(conn.settings_dict)
    entry = conns.get(conn.alias)
    if entry is not None:
        pid, seen, wrapper = entry
        if pid == os.getpid() and seen == snapshot:
            return wrapper
        if pid != os.getpid():
            _forked_away.append(wrapper)  # its socket belongs to the parent
        else:
            wrapper.close()
    settings_dict = copy.deepcopy(conn.settings_dict)
    settings_dict["CONN_MAX_AGE"] = None
    settings_dict["CONN_HEALTH_CHECKS"] = False
    settings_dict["AUTOCOMMIT"] = True
    wrapper = load_backend(settings_dict["ENGINE"]).DatabaseWrapper(
        settings_dict, f"{conn.alias}__djprocess_log"
    )
    conns[conn.alias] = (os.getpid(), snapshot, wrapper)
    return cast(BaseDatabaseWrapper, wrapper)


def close_private_connections() -> None:
    """Close this thread's private log connections (djprocess does it when ``run()`` ends).

    Call it in test teardown code that logs inside ``atomic()`` on PostgreSQL outside
    ``run()``, before the test database is dropped.
    """
    conns: dict[str, tuple[int, str, BaseDatabaseWrapper]] = _local.__dict__.get("conns", {})
    for alias, (pid, _, wrapper) in list(conns.items()):
        if pid == os.getpid():
            wrapper.close()
        else:
            _forked_away.append(wrapper)
        del conns[alias]


def _write_privately(conn: BaseDatabaseWrapper, target: Target, rows: Sequence[Row]) -> list[int]:
    wrapper = _private(conn)
    try:
        wrapper.ensure_connection()
        raw = wrapper.connection
        if getattr(wrapper, "_djprocess_configured", None) is not raw:
            with wrapper.cursor() as cursor:
                cursor.execute(f"SET lock_timeout = '{int(LOCK_TIMEOUT_MS)}ms'")
            wrapper._djprocess_configured = raw  # type: ignore[attr-defined]
        wrapper.set_autocommit(False)
    except DatabaseError as exc:
        wrapper.close()
        raise _Fallback(str(exc)) from exc
    try:
        sequences = _insert(wrapper, target, rows)
        wrapper.commit()
    except BaseException as exc:
        try:
            wrapper.rollback()
            wrapper.set_autocommit(True)
        except Exception:  # noqa: BLE001 - a broken connection is replaced next time
            wrapper.close()
        if isinstance(exc, target.model.DoesNotExist | DatabaseError):
            raise _Fallback(str(exc)) from exc
        raise
    wrapper.set_autocommit(True)
    return sequences


# -- choosing the connection ----------------------------------------------------------------


def _sticky(conn: BaseDatabaseWrapper) -> bool:
    """True if the private connection already failed within the caller's current
    transaction (so it would wait for a lock again)."""
    return getattr(conn, "_djprocess_sticky", None) is conn.run_on_commit


def _write(db: str, target: Target, rows: list[Row]) -> list[int]:
    conn = connections[db]
    if not conn.in_atomic_block:
        with transaction.atomic(using=db):
            return _insert(conn, target, rows)
    if conn.vendor == "postgresql" and not _sticky(conn):
        try:
            return _write_privately(conn, target, rows)
        except _Fallback as exc:
            logger.debug(
                "log write for %s pk=%s on the caller's connection: %s",
                target.label,
                target.pk,
                exc,
            )
            conn._djprocess_sticky = conn.run_on_commit  # type: ignore[attr-defined]
    if conn.needs_rollback:
        _remember(conn, _Pending(target, rows, None))
        return [0] * len(rows)
    with transaction.atomic(using=db):
        sequences = _insert(conn, target, rows)
    marker = _Marker()
    transaction.on_commit(marker, using=db)
    _remember(conn, _Pending(target, rows, marker))
    return sequences


def _remember(conn: BaseDatabaseWrapper, pending: _Pending) -> None:
    entries: list[_Pending] = conn.__dict__.setdefault("_djprocess_pending", [])
    if sum(len(p.rows) for p in entries) + len(pending.rows) > MAX_PENDING_LINES:
        logger.warning(
            "more than %d log lines wait for the caller's transaction; "
            "these are not kept for replay if it rolls back",
            MAX_PENDING_LINES,
        )
        return
    if not entries:
        conn._djprocess_hooks = conn.run_on_commit  # type: ignore[attr-defined]
    entries.append(pending)


def replay(db: str) -> int:
    """Write again the lines of ``db``'s connection (this thread) whose transaction rolled
    back, or that were deferred. Returns how many lines were written. Never raises
    :class:`Exception`: a failure is logged (logger ``djprocess.logs``)."""
    conn = connections[db]
    entries: list[_Pending] = conn.__dict__.get("_djprocess_pending", [])
    if not entries or conn.needs_rollback:
        return 0
    deferred = any(p.marker is None for p in entries)
    if not deferred and getattr(conn, "_djprocess_hooks", None) is conn.run_on_commit:
        return 0  # no commit or rollback since: nothing to learn
    live = {id(item[1]) for item in conn.run_on_commit}
    keep: list[_Pending] = []
    lost: list[_Pending] = []
    for pending in entries:
        if pending.marker is not None and pending.marker.fired:
            continue
        (keep if pending.marker is not None and id(pending.marker) in live else lost).append(
            pending
        )
    conn._djprocess_pending = keep  # type: ignore[attr-defined]
    conn._djprocess_hooks = conn.run_on_commit  # type: ignore[attr-defined]
    written = 0
    alive: dict[Target, bool] = {}
    for pending in lost:
        target = pending.target
        try:
            if target not in alive:
                found = target.model._base_manager.using(db).filter(pk=target.pk)
                if target.created is not None:
                    found = found.filter(created=target.created)
                alive[target] = found.exists()
            if not alive[target]:
                logger.info(
                    "%d log lines of %s pk=%s rolled back with the process itself",
                    len(pending.rows),
                    target.label,
                    target.pk,
                )
                continue
            _write(db, target, pending.rows)
            written += len(pending.rows)
        except Exception:
            logger.exception(
                "could not write again %d rolled-back log lines of %s pk=%s",
                len(pending.rows),
                target.label,
                target.pk,
            )
    return written


def write(process: BaseProcess, rows: list[Row]) -> list[int]:
    """Store ``rows`` as the next lines of ``process``'s log; returns their sequences
    (0 for lines deferred because the caller's transaction is broken)."""
    if not rows:
        return []
    log_model, _ = type(process).log_model()
    db = router.db_for_write(log_model, instance=process)
    replay(db)
    return _write(db, Target.of(process), rows)


def finish(process: BaseProcess) -> None:
    """At the end of ``run()``: replay lost lines, close this thread's private connection."""
    try:
        log_model, _ = type(process).log_model()
        replay(router.db_for_write(log_model, instance=process))
    finally:
        close_private_connections()
