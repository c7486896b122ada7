"""``djprocess_celery.startup``: what a worker consuming a djprocess queue checks and adjusts
as it starts.

Each test builds a real, unstarted Celery worker (``app.WorkController``): its constructor
sends ``worker_init`` with itself as sender, as ``celery worker`` does, so djprocess's
receivers run on the real worker object, before the bootsteps (consumer, remote-control
node) are built from it.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from celery import current_app
from celery.app import trace
from celery.utils.nodenames import default_nodename

pytestmark = pytest.mark.celery

MakeWorker = Callable[..., Any]


@pytest.fixture
def make_worker(db: None) -> Iterator[MakeWorker]:
    """``make_worker(queues=[...], **options)``: a real unstarted worker.

    Building one selects its queues on the shared app and may install the worker's trace
    optimizations; both are put back afterwards.
    """
    queues = current_app.amqp.queues
    consume_from = queues._consume_from
    localized = list(trace._localized)
    fast_trace = current_app.use_fast_trace_task

    def make(queues: list[str], **options: Any) -> Any:
        options.setdefault("pool_cls", "prefork")
        options.setdefault("concurrency", 1)
        return current_app.WorkController(queues=queues, **options)

    yield make
    queues._consume_from = consume_from
    trace.reset_worker_optimizations(current_app)
    trace._localized[:] = localized
    current_app.use_fast_trace_task = fast_trace


@pytest.fixture
def startup_log(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """``caplog`` with its handler on ``djprocess_celery.startup`` itself: building a worker
    may configure logging again (Django's LOGGING), which drops the root's handlers."""
    logger = logging.getLogger("djprocess_celery.startup")
    logger.addHandler(caplog.handler)
    with caplog.at_level(logging.WARNING, logger="djprocess_celery.startup"):
        yield caplog
    logger.removeHandler(caplog.handler)


def control_node_name(worker: Any) -> str:
    """The node name the worker's remote-control mailbox answers to."""
    steps = worker.consumer.blueprint.steps
    return str(steps["celery.worker.consumer.control.Control"].box.node.hostname)


# -- rename_default_nodename ---------------------------------------------------------


def test_a_process_worker_with_the_default_name_gets_a_unique_one(
    make_worker: MakeWorker, startup_log: pytest.LogCaptureFixture
) -> None:
    default = default_nodename("")
    worker = make_worker(["processes"])

    host = default.partition("@")[2]
    expected = f"processes-{os.getpid()}@{host}"
    assert worker.hostname == expected
    # Built after worker_init: the consumer and its control node carry the new name, so
    # a kill command addressed to it reaches this worker alone.
    assert worker.consumer.hostname == expected
    assert control_node_name(worker) == expected
    # Tasks executed in this process read their request.hostname from here.
    assert trace._localized[2] == expected
    assert f"renamed {default} to {expected}" in startup_log.text


def test_the_unique_name_lists_every_djprocess_queue_consumed(make_worker: MakeWorker) -> None:
    worker = make_worker(["supervisor", "processes", "celery"])
    host = socket.gethostname()
    assert worker.hostname == f"processes-supervisor-{os.getpid()}@{host}"


def test_a_supervisor_only_worker_is_renamed_after_its_queue(make_worker: MakeWorker) -> None:
    worker = make_worker(["supervisor"])
    assert worker.hostname.startswith(f"supervisor-{os.getpid()}@")


def test_a_name_given_with_n_is_kept(
    make_worker: MakeWorker, startup_log: pytest.LogCaptureFixture
) -> None:
    worker = make_worker(["processes"], hostname="mine@somewhere")
    assert worker.hostname == "mine@somewhere"
    assert control_node_name(worker) == "mine@somewhere"
    assert "renamed" not in startup_log.text


def test_a_worker_of_other_queues_keeps_the_default_name(make_worker: MakeWorker) -> None:
    worker = make_worker(["celery"])
    assert worker.hostname == default_nodename("")


def test_the_process_queue_setting_is_what_counts(make_worker: MakeWorker, settings: Any) -> None:
    settings.DJPROCESS_PROCESS_QUEUE = "jobs"
    # "processes" is now an ordinary queue; "jobs" is djprocess's.
    assert make_worker(["processes"]).hostname == default_nodename("")
    assert make_worker(["jobs"]).hostname.startswith(f"jobs-{os.getpid()}@")


# -- check_pool ----------------------------------------------------------------------


@pytest.mark.parametrize("pool", ["solo", "threads"])
def test_a_process_worker_with_a_pool_that_cannot_kill_refuses_to_start(
    make_worker: MakeWorker, startup_log: pytest.LogCaptureFixture, pool: str
) -> None:
    with pytest.raises(SystemExit) as exited:
        make_worker(["processes"], pool_cls=pool, hostname="w@h")
    message = str(exited.value)
    assert f"consumes the process queue 'processes' with the {pool} pool" in message
    assert "Start it with -P prefork" in message
    assert message in startup_log.text


def test_the_pool_setting_is_read_when_no_pool_is_given(
    make_worker: MakeWorker, celery_setting: Callable[[str, object], None]
) -> None:
    celery_setting("worker_pool", "solo")
    with pytest.raises(SystemExit, match="with the solo pool"):
        make_worker(["processes"], pool_cls=None, hostname="w@h")


def test_other_workers_may_use_any_pool(make_worker: MakeWorker) -> None:
    # The supervisor queue only checks rows and sends control commands: solo is fine.
    assert make_worker(["supervisor"], pool_cls="solo", hostname="w@h").pool_cls.__module__ == (
        "celery.concurrency.solo"
    )
    assert make_worker(["celery"], pool_cls="threads", hostname="w@h").hostname == "w@h"


# -- check_settings ------------------------------------------------------------------


def test_a_process_worker_refuses_to_start_on_settings_errors(
    make_worker: MakeWorker, settings: Any, startup_log: pytest.LogCaptureFixture
) -> None:
    settings.DJPROCESS_WORKER_BACKEND_OPTIONS = {"colour": "red"}
    with pytest.raises(SystemExit) as exited:
        make_worker(["processes"], hostname="w@h")
    message = str(exited.value)
    assert message.startswith("djprocess: this worker cannot run processes:\n  djprocess.E017: ")
    assert "colour" in message
    assert message in startup_log.text


def test_settings_errors_do_not_stop_a_worker_that_runs_no_processes(
    make_worker: MakeWorker, settings: Any
) -> None:
    settings.DJPROCESS_WORKER_BACKEND_OPTIONS = {"colour": "red"}
    assert make_worker(["supervisor"], hostname="w@h").hostname == "w@h"


def test_warnings_alone_do_not_stop_a_process_worker(make_worker: MakeWorker) -> None:
    from djprocess.checks import check_settings

    assert not [error for error in check_settings() if error.is_serious()]
    assert make_worker(["processes"], hostname="w@h").hostname == "w@h"


def test_a_worker_init_without_a_worker_is_ignored() -> None:
    from celery.signals import worker_init

    from djprocess_celery import startup

    replies = dict(worker_init.send(sender=None))
    assert replies[startup.check_pool] is None
    assert replies[startup.check_settings] is None
    assert replies[startup.rename_default_nodename] is None
