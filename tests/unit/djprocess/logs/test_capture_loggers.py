"""``djprocess.logs.capture``: which loggers are captured, at which level, and from which
threads. Runs on SQLite (default) and PostgreSQL (``--ds=djprocess_test_settings.postgres``)."""

from __future__ import annotations

import logging
import threading

import pytest
from django.db import connection
from django.test import override_settings
from unit_helpers import Make, sequences

from djprocess import status
from djprocess.backends.immediate import ImmediateBackend
from djprocess.logs import capture as logcapture
from djprocess_example.models import ExampleProcess


def test_records_inside_run_are_captured_with_their_level(make: Make) -> None:
    library = logging.getLogger("some.library")
    process, other = make(), make()
    with logcapture.capture(process):
        library.warning("disk %s full", "/tmp")
        library.debug("too chatty")  # below DJPROCESS_LOG_CAPTURE_LEVEL
        logging.getLogger("djprocess.run.runner").warning("ours: not repeated")
        with logcapture.capture(other):
            library.error("for the other one")
    library.warning("outside any run")
    lines = [(line.level, line.message, line.extra) for line in process.logs.all()]
    assert lines == [("WARNING", "disk /tmp full", {"logger": "some.library"})]
    assert [line.message for line in other.logs.all()] == ["for the other one"]


@pytest.mark.parametrize("name", ["djprocess", "djprocess.logs", "django.db.backends"])
def test_djprocess_internals_are_not_captured(make: Make, name: str) -> None:
    process = make()
    with logcapture.capture(process):
        logging.getLogger(name).error("internal")
    assert process.log_count() == 0


class QueueBackend(ImmediateBackend):
    worker_loggers = ("myqueue",)


def test_the_backends_worker_loggers_are_not_captured(make: Make) -> None:
    process = make()
    path = f"{__name__}.QueueBackend"
    with override_settings(DJPROCESS_WORKER_BACKEND=path), logcapture.capture(process):
        assert logcapture.ignored_loggers() == (*logcapture.IGNORED_LOGGERS, "myqueue")
        logging.getLogger("myqueue.worker").error("internal")
        logging.getLogger("myqueue").error("internal")
        logging.getLogger("myqueueish").error("user code")
        logging.getLogger("celery.app.trace").error("not this backend's worker")
    assert [line.message for line in process.logs.all()] == [
        "user code",
        "not this backend's worker",
    ]


def test_a_backend_that_cannot_be_loaded_leaves_djprocess_own_ignored(make: Make) -> None:
    process = make()
    with override_settings(DJPROCESS_WORKER_BACKEND="no_such_module.Backend"):
        assert logcapture.ignored_loggers() == logcapture.IGNORED_LOGGERS
        with logcapture.capture(process):
            logging.getLogger("djprocess.run").error("internal")
            logging.getLogger("app").error("user code")
    assert [line.message for line in process.logs.all()] == ["user code"]


@pytest.mark.parametrize("name", ["djprocess_example.work", "celeryish", "kombucha.brew", "app"])
def test_loggers_that_only_look_alike_are_captured(make: Make, name: str) -> None:
    process = make()
    with logcapture.capture(process):
        logging.getLogger(name).error("user code")
    assert [line.message for line in process.logs.all()] == ["user code"]


def test_capture_level_setting(make: Make) -> None:
    process = make()
    logger = logging.getLogger("some.library")
    with override_settings(DJPROCESS_LOG_CAPTURE_LEVEL="ERROR"), logcapture.capture(process):
        logger.warning("dropped")
        logger.error("kept")
    assert [line.message for line in process.logs.all()] == ["kept"]


def test_threads_are_captured_only_with_propagate(transactional_db: None) -> None:
    # Committed rows: a thread has its own connection.
    process = ExampleProcess.objects.create()
    logger = logging.getLogger("some.library")

    def work(text: str) -> None:
        try:
            logger.warning(text)
        finally:
            connection.close()

    with logcapture.capture(process):
        plain = threading.Thread(target=work, args=("plain thread",))
        wrapped = threading.Thread(target=logcapture.propagate(work), args=("propagated",))
        for thread in (plain, wrapped):
            thread.start()
            thread.join()
    assert [line.message for line in process.logs.all()] == ["propagated"]


def test_run_captures_library_logger(make: Make) -> None:
    process = make(kind="succeed", lines=1)
    assert process.execute() == status.SUCCEEDED
    messages = list(process.logs.values_list("message", flat=True))
    assert "a library logger speaking from inside run()" in messages
    assert sequences(process) == list(range(1, len(messages) + 1))
