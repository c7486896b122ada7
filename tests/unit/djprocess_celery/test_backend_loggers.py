"""``CeleryWorkerBackend.worker_loggers``: with the Celery backend (the test settings'), the
records of Celery, its transport and ``djprocess_celery`` are not captured into a process's
log (``djprocess.logs.capture``). The subprocess backend adds its own package."""

from __future__ import annotations

import logging

import pytest
from django.test import override_settings
from unit_helpers import Make

from djprocess.logs import capture as logcapture

pytestmark = pytest.mark.celery


@pytest.mark.parametrize(
    "name",
    [
        "djprocess_celery",
        "djprocess_celery.tasks",
        "djprocess_celery.backend",
        "celery",
        "celery.worker.strategy",
        "celery.app.trace",
        "kombu.connection",
        "amqp.connection",
        "billiard.pool",
    ],
)
def test_worker_internals_are_not_captured(make: Make, name: str) -> None:
    process = make()
    with logcapture.capture(process):
        logging.getLogger(name).error("internal")
    assert process.log_count() == 0


def test_the_subprocess_backend_also_ignores_its_own_package(make: Make) -> None:
    process = make()
    path = "djprocess_subprocess.backend.SubprocessWorkerBackend"
    with override_settings(DJPROCESS_WORKER_BACKEND=path), logcapture.capture(process):
        logging.getLogger("djprocess_subprocess.runner").error("internal")
        logging.getLogger("kombu.connection").error("internal")
        logging.getLogger("djprocess_subprocessing").error("user code")
    assert [line.message for line in process.logs.all()] == ["user code"]
