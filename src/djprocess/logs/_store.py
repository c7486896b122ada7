"""Which connection stores a log line, so that it is durable, gapless and rollback-proof.

How lines are numbered and inserted is :mod:`djprocess.logs._sql`'s business; the connections
besides the caller's are :mod:`djprocess.logs._connections`'s. A write goes:

* **From a forked child** whose connection was opened by its parent: on the child's own side
  connection; the inherited one is never used nor closed.
* **From a thread whose Django connection is not open** (a thread ``run()`` started), on a
  database other than SQLite: on the process's shared side connection, so that no connection
  is left open per thread.
* **Not inside** ``transaction.atomic()``: on the caller's connection, in autocommit (one
  statement on PostgreSQL) or in its own short transaction; committed when ``log()`` returns.
* **Inside an atomic block, on PostgreSQL**: on the side connection, committed there at once,
  so the lines survive the caller's rollback. That write is bounded (transaction-local
  ``lock_timeout``, a cut-off wait for a server connection): if the caller's own transaction
  holds a lock the write needs (``select_for_update()`` on the process row), the pool has no
  free server, or the process row is not committed yet, it falls back (below), for the rest of
  the caller's transaction. If another thread's write held the side connection all that time
  (it may wait for a lock the caller holds), the lines are deferred instead (``log()``
  returns 0) and written once the caller's transaction has ended: writing them on the
  caller's connection would deadlock with that write on the counter row.
* Fallback, and always on SQLite inside an atomic block (a second connection cannot write
  while the caller holds SQLite's write lock): the lines are written on the caller's
  connection in a savepoint. They are visible to other connections when the caller commits.
  If the caller's block rolls back instead, the lines are written again (same text, level,
  ``extra`` and ``created``; new sequences) at the next write on that connection or when
  ``run()`` ends, whichever comes first. A caller transaction that is already broken (an
  error inside ``atomic()``) gets its lines deferred the same way (``log()`` returns 0).

In the main thread, SIGTERM and SIGINT are held back while a write is in progress
(:mod:`djprocess.logs._uninterrupted`).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.db import InterfaceError, OperationalError, connections, router, transaction
from django.db.backends.base.base import BaseDatabaseWrapper

from djprocess import _django
from djprocess.logs import _connections as logconn
from djprocess.logs import _sql as logsql
from djprocess.logs._context import current_process
from djprocess.logs._sql import Row, Target
from djprocess.logs._uninterrupted import deferring_signals

if TYPE_CHECKING:
    from djprocess.models import BaseProcess

logger = logging.getLogger("djprocess.logs")

#: Lines of a connection remembered for replay after a rollback (beyond: a warning).
MAX_PENDING_LINES = 100_000

__all__ = ["Row", "Target", "close_private_connections", "finish", "replay", "write"]


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
    #: Deferred until this transaction (its :func:`~djprocess._django.transaction_token`)
    #: has ended.
    until_after: object | None = None


def close_private_connections() -> None:
    """Close this process's side log connections (djprocess does it when ``run()`` ends).

    Call it in test teardown code that logs inside ``atomic()`` on PostgreSQL outside
    ``run()``, before the test database is dropped.
    """
    logconn.close()


# -- choosing the connection ----------------------------------------------------------------


def _sticky(conn: BaseDatabaseWrapper) -> bool:
    """True if the side connection already failed within the caller's current
    transaction (so it would wait for a lock again)."""
    return _django.marked_in_this_transaction(conn, "sticky")


def _side_for(conn: BaseDatabaseWrapper) -> bool:
    """True if a write must not open or use this thread's connection at all."""
    if logconn.inherited(conn):
        # An in-memory SQLite database exists only in this process's copy of memory.
        return not _django.is_in_memory_db(conn)
    return (
        conn.vendor != "sqlite"
        and conn.connection is None
        and threading.current_thread() is not threading.main_thread()
    )


def _busy(conn: BaseDatabaseWrapper) -> bool:
    """True if the side connection stayed busy within the caller's current transaction."""
    return _django.marked_in_this_transaction(conn, "busy")


def _defer_until_after(conn: BaseDatabaseWrapper, target: Target, rows: list[Row]) -> list[int]:
    """Keep ``rows`` to write once the caller's transaction has ended (``log()`` returns 0)."""
    logger.debug(
        "log write for %s pk=%s deferred to the end of the caller's transaction: "
        "the side connection is busy",
        target.label,
        target.pk,
    )
    _remember(conn, _Pending(target, rows, None, until_after=_django.transaction_token(conn)))
    return [0] * len(rows)


def _close_side_on_commit(conn: BaseDatabaseWrapper) -> None:
    """Outside ``run()`` (which closes it when it ends), close the side connection when the
    caller's transaction commits, rather than leave it open for the life of the process."""
    if current_process() is not None:
        return
    if not _django.marked_in_this_transaction(conn, "close_hook"):
        transaction.on_commit(logconn.close, using=conn.alias, robust=True)
        _django.mark_this_transaction(conn, "close_hook")


def _store_autocommit(
    conn: BaseDatabaseWrapper, db: str, target: Target, rows: list[Row]
) -> list[int]:
    if logsql.needs_transaction(conn, len(rows)):
        with transaction.atomic(using=db):
            return logsql.store(conn, target, rows)
    return logsql.store(conn, target, rows)


def _write(db: str, target: Target, rows: list[Row]) -> list[int]:
    conn = connections[db]
    if _side_for(conn):
        return logconn.write(conn, target, rows, bounded=False)
    if not conn.in_atomic_block:
        try:
            return _store_autocommit(conn, db, target, rows)
        except (OperationalError, InterfaceError):
            # A connection that died in a database outage fails its first statement, which
            # never reached the server: write again once on a fresh connection rather than
            # lose the line (the outage may be long over).
            conn.close()
            return _store_autocommit(conn, db, target, rows)
    if _busy(conn):
        return _defer_until_after(conn, target, rows)
    if conn.vendor == "postgresql" and not _sticky(conn):
        try:
            sequences = logconn.write(conn, target, rows, bounded=True)
            _close_side_on_commit(conn)
            return sequences
        except logconn.Busy:
            _django.mark_this_transaction(conn, "busy")
            return _defer_until_after(conn, target, rows)
        except logconn.Unavailable as exc:
            logger.debug(
                "log write for %s pk=%s on the caller's connection: %s",
                target.label,
                target.pk,
                exc,
            )
            _django.mark_this_transaction(conn, "sticky")
    if conn.needs_rollback:
        _remember(conn, _Pending(target, rows, None))
        return [0] * len(rows)
    with transaction.atomic(using=db):
        sequences = logsql.store(conn, target, rows)
    marker = _Marker()
    transaction.on_commit(marker, using=db)
    _remember(conn, _Pending(target, rows, marker))
    return sequences


def _remember(conn: BaseDatabaseWrapper, pending: _Pending) -> None:
    entries: list[_Pending] = _django.state(conn, "pending")
    if sum(len(p.rows) for p in entries) + len(pending.rows) > MAX_PENDING_LINES:
        logger.warning(
            "more than %d log lines wait for the caller's transaction; "
            "these are not kept for replay if it rolls back",
            MAX_PENDING_LINES,
        )
        return
    if not entries:
        _django.mark_this_transaction(conn, "hooks")
    entries.append(pending)


def replay(db: str) -> int:
    """Write again the lines of ``db``'s connection (this thread) whose transaction rolled
    back, or that were deferred. Returns how many lines were written. Never raises
    :class:`Exception`: a failure is logged (logger ``djprocess.logs``)."""
    conn = connections[db]
    entries: list[_Pending] = _django.get_mark(conn, "pending", [])
    if not entries or conn.needs_rollback or logconn.inherited(conn):
        return 0  # nothing to do; or the parent's lines, which are the parent's to replay
    deferred = any(p.marker is None for p in entries)
    if not deferred and _django.marked_in_this_transaction(conn, "hooks"):
        return 0  # no commit or rollback since: nothing to learn
    live = {id(callback) for callback in _django.pending_callbacks(conn)}
    keep: list[_Pending] = []
    lost: list[_Pending] = []
    for pending in entries:
        if pending.marker is not None and pending.marker.fired:
            continue
        waiting = (
            pending.until_after is not None
            and pending.until_after is _django.transaction_token(conn)
        )
        live_marker = pending.marker is not None and id(pending.marker) in live
        (keep if waiting or live_marker else lost).append(pending)
    _django.mark(conn, "pending", keep)
    _django.mark_this_transaction(conn, "hooks")
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

    def store() -> list[int]:
        log_model, _ = type(process).log_model()
        db = router.db_for_write(log_model, instance=process)
        replay(db)
        return _write(db, Target.of(process), rows)

    return deferring_signals(store)


def finish(process: BaseProcess) -> None:
    """At the end of ``run()``: replay lost lines, close this process's side connections."""
    try:
        log_model, _ = type(process).log_model()
        replay(router.db_for_write(log_model, instance=process))
    finally:
        logconn.close()
