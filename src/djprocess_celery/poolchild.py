"""Set-up inside each prefork pool child."""

from __future__ import annotations

from typing import Any

from celery.signals import worker_process_init, worker_process_shutdown

from djprocess import runmarker
from djprocess.signalguard import install_stray_kill_filter


@worker_process_init.connect
def filter_stray_kills(**kwargs: Any) -> None:
    """A djprocess SIGTERM that lands after its run ended must not kill the child
    (it may already be taking the next task): see
    :func:`djprocess.signalguard.install_stray_kill_filter`."""
    install_stray_kill_filter()


@worker_process_shutdown.connect
def forget_markers(**kwargs: Any) -> None:
    """Remove this child's marker files as it exits."""
    runmarker.forget_process()
