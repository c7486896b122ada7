"""The connections a log write may use besides the caller's own.

**Inherited connections.** A child made by ``os.fork()`` (or ``multiprocessing`` with the
fork start method) inherits the parent's connection objects, and with them the parent's
socket: a query from the child interleaves with the parent's on one server session, and
closing it sends the server a ``Terminate`` that ends the parent's session.
:func:`inherited` tells such a connection apart (the pid that opened each connection is
recorded from Django's ``connection_created`` signal); a log write never uses nor closes it.

**The side connection.** One per OS process and database alias, shared by its threads under a
lock, in autocommit, opened on first use with the settings of the caller's connection, and
not registered in ``django.db.connections``. Log writes use it where the caller's connection
cannot or should not be used:

* in a forked child, instead of the inherited connection;
* in a thread whose own Django connection is not open (a thread started inside ``run()``):
  opening one there would leave a server connection per thread until garbage collection;
* inside ``transaction.atomic()`` on PostgreSQL, so that the line commits at once and
  survives the caller's rollback. That write is *bounded* (:func:`write`, ``bounded=True``):
  settings are transaction-local (``SET LOCAL lock_timeout``, safe behind PgBouncer in
  transaction pooling mode) and the wait for a server connection (a pooler with no free
  server) is cut after :data:`WAIT_SECONDS`; then the caller falls back to its own
  connection.

:func:`close` closes this process's side connections (djprocess does it when ``run()`` ends).
"""

from __future__ import annotations

import copy
import os
import socket
import threading
from collections.abc import Callable, Sequence
from typing import Any, cast

from django.db import DatabaseError
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.signals import connection_created
from django.db.utils import load_backend

from djprocess import _django
from djprocess.logs import _sql as logsql

#: How long (ms) a bounded write waits for a row lock before giving up.
LOCK_TIMEOUT_MS = 2000
#: How long (s) a bounded write waits for its transaction to start (a server connection).
WAIT_SECONDS = 2.0


class Unavailable(Exception):
    """A bounded write could not take place (timeout, lock, connection or row not visible);
    the caller writes on its own connection instead."""


class Busy(Unavailable):
    """Another thread's write held the side connection for the whole wait: it may itself be
    waiting for a lock the caller's transaction holds, so the caller must not write on its
    own connection either (the two writes would deadlock on the counter row)."""


# -- who opened a connection ------------------------------------------------------------------


def _record_opener(sender: Any, connection: BaseDatabaseWrapper, **kwargs: Any) -> None:
    _django.mark(connection, "opened_by", (id(connection.connection), os.getpid()))


connection_created.connect(_record_opener, dispatch_uid="djprocess-log-connection-opener")


def inherited(conn: BaseDatabaseWrapper) -> bool:
    """True if ``conn`` is open on a socket another process (the parent of a fork) opened."""
    raw = conn.connection
    if raw is None:
        return False
    opened_by: tuple[int, int] | None = _django.get_mark(conn, "opened_by")
    return opened_by is not None and opened_by[0] == id(raw) and opened_by[1] != os.getpid()


# -- the side connections ---------------------------------------------------------------------


class _Side:
    """One side connection and its lock."""

    def __init__(self, template: BaseDatabaseWrapper) -> None:
        settings_dict = copy.deepcopy(template.settings_dict)
        settings_dict["CONN_MAX_AGE"] = None
        settings_dict["CONN_HEALTH_CHECKS"] = False
        settings_dict["AUTOCOMMIT"] = True
        self.snapshot = _snapshot(template.settings_dict)
        self.lock = threading.Lock()
        # Its own alias: it is not one of django.db.connections (and test cases that limit
        # the aliases a test may use treat it as the dynamically created connection it is).
        wrapper = load_backend(settings_dict["ENGINE"]).DatabaseWrapper(
            settings_dict, f"{template.alias}__djprocess_log"
        )
        self.wrapper = cast(BaseDatabaseWrapper, wrapper)
        self.wrapper.inc_thread_sharing()  # used by every thread, one at a time (the lock)


def _snapshot(settings_dict: dict[str, Any]) -> str:
    keys = ("ENGINE", "NAME", "USER", "PASSWORD", "HOST", "PORT", "OPTIONS")
    return repr([settings_dict.get(key) for key in keys])


_sides: dict[str, _Side] = {}
_sides_lock = threading.Lock()
_forked_away: list[_Side] = []  # a forked child keeps these referenced, never closes them


def _after_fork_in_child() -> None:
    global _sides_lock
    # The parent's sockets are not ours; a lock another thread held at fork() stays held.
    _forked_away.extend(_sides.values())
    _sides.clear()
    _sides_lock = threading.Lock()


os.register_at_fork(after_in_child=_after_fork_in_child)


def _side(template: BaseDatabaseWrapper) -> _Side:
    with _sides_lock:
        side = _sides.get(template.alias)
        if side is not None and side.snapshot != _snapshot(template.settings_dict):
            with side.lock:  # e.g. the test database was renamed: re-made on the new one
                side.wrapper.close()
            side = None
        if side is None:
            side = _sides[template.alias] = _Side(template)
        return side


def close() -> None:
    """Close this process's side connections (each once its current write is done)."""
    with _sides_lock:
        sides = list(_sides.values())
    for side in sides:
        with side.lock:
            side.wrapper.close()


def write(
    template: BaseDatabaseWrapper,
    target: logsql.Target,
    rows: Sequence[logsql.Row],
    *,
    bounded: bool,
) -> list[int]:
    """Store ``rows`` on the side connection for ``template``'s database and commit.

    ``bounded=False``: as any query would (errors propagate: ``DoesNotExist``,
    :class:`~django.db.DatabaseError`). ``bounded=True``: raises :class:`Unavailable`
    instead of waiting for a lock or a server connection, or if the process row is not
    visible to the side connection.
    """
    side = _side(template)
    if bounded:
        # Another thread's write may itself wait for a lock this caller's transaction holds.
        if not side.lock.acquire(timeout=WAIT_SECONDS):
            raise Busy("the side connection is busy")
        try:
            return _bounded(side.wrapper, target, rows)
        finally:
            side.lock.release()
    with side.lock:
        wrapper = side.wrapper
        try:
            if logsql.needs_transaction(wrapper, len(rows)):
                with _Transaction(wrapper):
                    return logsql.store(wrapper, target, rows)
            return logsql.store(wrapper, target, rows)
        except DatabaseError:
            wrapper.close()  # broken or not: the next write starts afresh
            raise


class _Transaction:
    """``BEGIN``…``COMMIT`` (``ROLLBACK`` on error) on a wrapper outside ``connections``."""

    def __init__(self, wrapper: BaseDatabaseWrapper) -> None:
        self.wrapper = wrapper

    def __enter__(self) -> None:
        self.wrapper.ensure_connection()
        self.wrapper.set_autocommit(False)

    def __exit__(self, exc_type: object, *rest: object) -> None:
        try:
            if exc_type is None:
                self.wrapper.commit()
            else:
                self.wrapper.rollback()
        finally:
            if self.wrapper.connection is not None:
                self.wrapper.set_autocommit(True)


def _bounded(
    wrapper: BaseDatabaseWrapper, target: logsql.Target, rows: Sequence[logsql.Row]
) -> list[int]:
    def begin() -> None:
        # Connecting may run a query too (Django sets the time zone if it differs).
        wrapper.ensure_connection()
        wrapper.set_autocommit(False)
        with wrapper.cursor() as cursor:
            # Transaction-local: nothing outlives this transaction on a pooled server.
            cursor.execute(f"SET LOCAL lock_timeout = '{int(LOCK_TIMEOUT_MS)}ms'")

    try:
        try:
            _cut_after(WAIT_SECONDS, wrapper, begin)
            sequences = logsql.store(wrapper, target, rows)
        except BaseException:
            if wrapper.connection is not None and not wrapper.get_autocommit():
                wrapper.rollback()
                wrapper.set_autocommit(True)
            raise
        wrapper.commit()
        wrapper.set_autocommit(True)
        return sequences
    except (DatabaseError, target.model.DoesNotExist) as exc:
        wrapper.close()
        raise Unavailable(str(exc)) from exc


def _cut_after(seconds: float, wrapper: BaseDatabaseWrapper, call: Callable[[], object]) -> None:
    """Run ``call`` (the first statement of a transaction); if it has not returned after
    ``seconds``, shut the connection's socket down so that it fails at once.

    A pooler such as PgBouncer accepts the client at once but queues its first statement
    until a server is free; a cancel request does not reach a queued statement, and the
    driver has no timeout of its own for it.
    """
    guard = threading.Lock()  # the cut never lands once call() has returned
    done = False

    def cut() -> None:
        with guard:
            fileno = _fileno(wrapper)  # known once the driver has connected
            if done or fileno is None:
                return
            try:
                with socket.socket(fileno=os.dup(fileno)) as sock:
                    sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    timer = threading.Timer(seconds, cut)
    timer.daemon = True
    timer.start()
    try:
        call()
    finally:
        with guard:
            done = True
        timer.cancel()


def _fileno(wrapper: BaseDatabaseWrapper) -> int | None:
    raw = wrapper.connection
    fileno = getattr(raw, "fileno", None)
    try:
        return int(fileno()) if callable(fileno) else None
    except Exception:  # noqa: BLE001 - no socket to cut: the wait stays unbounded
        return None
