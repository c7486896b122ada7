"""Set-up inside each prefork pool child: it will supervise the runs it forks."""

from __future__ import annotations

from typing import Any

from celery import current_app
from celery.signals import worker_process_init

from djprocess.run import localsupervisor

__all__ = ["prepare_pool_child", "reset_broker_pools"]


def reset_broker_pools() -> None:
    """In a run child: drop the Celery connection pools inherited from the pool child.

    ``os.fork()`` does not run Celery's after-fork clean-up (only multiprocessing forks
    do), and a producer pool shared across a fork corrupts both sides' broker sockets:
    a run that calls ``start()`` on another process must publish on its own connection.
    """
    current_app._after_fork()  # type: ignore[attr-defined]


@worker_process_init.connect
def prepare_pool_child(**kwargs: Any) -> None:
    """Make this pool child a child subreaper with a SIGTERM handler that stops its run
    first (see :func:`djprocess.run.localsupervisor.install_worker_process_handlers`)."""
    localsupervisor.install_worker_process_handlers()
    if reset_broker_pools not in localsupervisor.after_fork_hooks:
        localsupervisor.after_fork_hooks.append(reset_broker_pools)
