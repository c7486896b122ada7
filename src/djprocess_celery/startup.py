"""What a worker that consumes a djprocess queue adjusts or checks as it starts.

Unique node names:

Two ``celery worker`` processes started on one host without ``-n`` (exactly what
``celery -A proj worker -Q processes`` and ``… -Q supervisor`` do) are both
``celery@host``. Celery then binds both to one remote-control queue, so each
control message (every step of a kill) reaches one of them at random, and the
kill would often ask the wrong worker. A worker that consumes a djprocess queue
and still has the default name is renamed ``<queues>-<pid>@host`` before it
connects; a name given with ``-n`` is never changed.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from celery.app.trace import setup_worker_optimizations
from celery.signals import worker_init
from celery.utils.nodenames import default_nodename, nodesplit

from djprocess_celery.conf import process_queue, supervisor_queue

__all__ = ["check_pool", "check_settings", "rename_default_nodename", "unique_nodename"]

logger = logging.getLogger("djprocess_celery.startup")


def unique_nodename(hostname: str, queues: set[str]) -> str:
    """``"celery@host"`` consuming ``{"processes"}`` → ``"processes-<pid>@host"``."""
    _, host = nodesplit(hostname)
    return f"{'-'.join(sorted(queues))}-{os.getpid()}@{host}"


def _djprocess_queues(worker: Any) -> set[str]:
    consume_from = getattr(worker.app.amqp.queues, "consume_from", None) or {}
    return {process_queue(), supervisor_queue()} & set(consume_from)


@worker_init.connect
def check_pool(sender: Any = None, **kwargs: Any) -> None:
    """Refuse to start a worker that consumes the process queue with a pool other than
    prefork: each run is supervised by the pool child that took it (it forks the run and
    must not be shared with other tasks), which only prefork gives. With ``-P threads``
    or ``-P solo`` timeouts and ``cancel()`` could not stop work, so the worker exits
    with a message instead of pretending.

    Raises :class:`SystemExit` (the ``celery worker`` command exits with status 1).
    """
    worker = sender
    if worker is None or process_queue() not in _djprocess_queues(worker):
        return
    pool = getattr(worker, "pool_cls", "") or worker.app.conf.worker_pool or "prefork"
    if "prefork" not in str(pool):
        message = (
            f"djprocess: this worker consumes the process queue {process_queue()!r} "
            f"with the {_pool_name(pool)} pool, which cannot stop a running process: timeouts and "
            "cancel() would not stop work. Start it with -P prefork (or let it consume "
            "other queues only)."
        )
        logger.critical(message)
        raise SystemExit(message)


@worker_init.connect
def check_settings(sender: Any = None, **kwargs: Any) -> None:
    """Refuse to start a worker that consumes the process queue while the system checks
    of the djprocess settings and backend find errors (a missing ``runsc``, a backend
    option it does not take, ...): they would fail every run, one at a time.

    Raises :class:`SystemExit` naming each error.
    """
    worker = sender
    if worker is None or process_queue() not in _djprocess_queues(worker):
        return
    from djprocess.checks import check_settings as djprocess_checks

    errors = [error for error in djprocess_checks() if error.is_serious()]
    if errors:
        message = "djprocess: this worker cannot run processes:\n" + "\n".join(
            f"  {error.id}: {error.msg} ({error.hint})" for error in errors
        )
        logger.critical(message)
        raise SystemExit(message)


@worker_init.connect
def rename_default_nodename(sender: Any = None, **kwargs: Any) -> None:
    """Give a djprocess worker that kept Celery's default node name a unique one."""
    worker = sender
    if worker is None or getattr(worker, "hostname", None) != default_nodename(""):
        return
    ours = _djprocess_queues(worker)
    if not ours:
        return
    new = unique_nodename(worker.hostname, ours)
    logger.warning(
        "djprocess: worker started without -n; renamed %s to %s so that kill commands "
        "reach it alone (two workers named %s would share one control queue). "
        "Pass -n NAME@%%h to choose the name.",
        worker.hostname,
        new,
        worker.hostname,
    )
    worker.hostname = new
    # Tasks read their request.hostname from here; pool children are forked later.
    setup_worker_optimizations(worker.app, new)


#: Celery's pool modules (``celery.concurrency.<module>``) and aliases, by the ``-P`` name
#: that picks them.
_POOL_NAMES = {"thread": "threads", "processes": "prefork"}


def _pool_name(pool: object) -> str:
    """The ``-P`` name of a worker's pool: ``pool_cls`` is a name, a dotted path or the class
    (``celery.concurrency.thread.TaskPool`` → ``"threads"``)."""
    if isinstance(pool, type):
        text = pool.__module__
    else:
        text = str(pool).partition(":")[0]  # "celery.concurrency.prefork:TaskPool"
        if text.endswith(".TaskPool"):
            text = text.removesuffix(".TaskPool")
    name = text.rpartition(".")[2]
    return _POOL_NAMES.get(name, name)
