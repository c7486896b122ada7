"""Fixtures for the integration suite: real services, real ``celery worker -P prefork``.

Layers (each builds on the one above):

* ``services`` (session): PostgreSQL, Redis and RabbitMQ must answer. A missing
  service **fails** the run with a message naming it (never a skip; CI sets
  ``DJPROCESS_REQUIRE_SERVICES=1``, which is also the default behaviour).
* ``pg_database`` (session): a fresh database ``djp_it_<random>`` on 127.0.0.1:5432,
  migrated, dropped at the end. Workers are separate OS processes and must see
  committed rows, so pytest-django's per-test transactions are not used: the test
  process's ``default`` connection is pointed at this database for the duration of
  the package (and put back afterwards, so unit tests in the same run keep SQLite).
* ``broker`` (package, parametrized ``redis`` / ``rabbitmq``): the Celery app of the
  test process is pointed at that broker (not eager); queues are unique per run and
  purged/deleted, a dedicated Redis db index is flushed.
* ``cluster`` (function): the shared pair of workers of this broker (process queue,
  ``-c 3``; supervisor queue, ``-c 2``). After each test it checks the workers are
  alive, their pools are at full size and nothing a run started is left behind.
* ``make_cluster`` (function): a private pair of workers with other settings
  (concurrency, kill escalation, visibility timeout), stopped at teardown.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import pytest

from djprocess_example.workers import Worker, wait_until_ready

PG_HOST, PG_PORT, PG_USER = "127.0.0.1", 5432, "postgres"
REDIS_DB = int(os.environ.get("DJPROCESS_IT_REDIS_DB", "3"))
BROKER_URLS = {
    "redis": f"redis://127.0.0.1:6379/{REDIS_DB}",
    "rabbitmq": os.environ.get("DJPROCESS_IT_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672//"),
}
SERVICE_PORTS = {
    "PostgreSQL": ("127.0.0.1", 5432),
    "Redis": ("127.0.0.1", 6379),
    "RabbitMQ": ("127.0.0.1", 5672),
}
#: Kill escalation of the shared workers: N SIGTERMs, W seconds apart.
RETRIES, WAIT = 2, 0.5

RUN_ID = uuid.uuid4().hex[:8]


# -- waiting ------------------------------------------------------------------------


def wait_for[T](predicate: Callable[[], T], timeout: float, what: str, interval: float = 0.05) -> T:
    """Poll ``predicate`` until it returns a truthy value; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}", pytrace=False)
        time.sleep(interval)


#: Slack for a worker picking a task up and for the test's polling.
PICKUP = 3.0


def launch(kind: str, seconds: float = 60.0, timeout: float | None = None, **fields: Any) -> Any:
    """Create an ``ExampleProcess`` of ``kind`` (``timeout`` in seconds) and ``start()`` it."""
    from datetime import timedelta

    from djprocess_example.models import ExampleProcess

    process = ExampleProcess.objects.create(kind=kind, seconds=seconds, **fields)
    if timeout is not None:
        process.timeout = timedelta(seconds=timeout)
    process.start()
    return process


def stop_time(cluster: Cluster) -> float:
    """N x W + 1 s: what a stop may take after its deadline."""
    return cluster.retries * cluster.wait + 1.0


def reload(process: Any) -> Any:
    return type(process)._base_manager.get(pk=process.pk)


def wait_running(process: Any, timeout: float = 30.0) -> Any:
    """Wait until ``process`` is ``running`` (``started_at`` set); returns it reloaded."""

    def check() -> Any:
        fresh = reload(process)
        if fresh.status != "running" and fresh.finished_at is not None:
            pytest.fail(f"{fresh} ended before it was seen running: {fresh.termination}")
        return fresh if fresh.status == "running" and fresh.started_at else None

    return wait_for(check, timeout, f"{process} to run")


def wait_finished(process: Any, timeout: float) -> Any:
    """Wait until the run of ``process`` is really over (``finished_at`` set)."""

    def check() -> Any:
        fresh = reload(process)
        return fresh if fresh.finished_at is not None else None

    try:
        return wait_for(check, timeout, f"{process} to finish")
    except pytest.fail.Exception:
        fresh = reload(process)
        messages = [line.message for line in fresh.logs.all()]
        pytest.fail(
            f"{fresh} not finished after {timeout}s: status={fresh.status} "
            f"termination={fresh.termination!r} logs={messages}",
            pytrace=False,
        )


def log_messages(process: Any) -> list[str]:
    return [line.message for line in reload(process).logs.order_by("sequence")]


def _alive(pid: int) -> bool:
    try:
        return bool(psutil.Process(pid).status() != psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return False


# -- services -----------------------------------------------------------------------


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


def require_service(name: str) -> None:
    """Fail (never skip) when ``name`` does not answer on its port."""
    host, port = SERVICE_PORTS[name]
    if not _reachable(host, port):
        required = os.environ.get("DJPROCESS_REQUIRE_SERVICES")
        hint = " (DJPROCESS_REQUIRE_SERVICES=1)" if required else ""
        pytest.fail(
            f"integration tests need {name} on {host}:{port}, which is not reachable{hint}. "
            "Start it (see .ci/run) and run again.",
            pytrace=False,
        )


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """Create ``djp_it_<random>``, yield its URL, drop it at the end."""
    require_service("PostgreSQL")
    import psycopg

    name = f"djp_it_{RUN_ID}"
    admin = f"host={PG_HOST} port={PG_PORT} user={PG_USER} dbname=test"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgres://{PG_USER}@{PG_HOST}:{PG_PORT}/{name}"
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="package")
def django_pg(pg_database: str, django_db_blocker: Any) -> Iterator[str]:
    """Point the test process's ``default`` connection at ``pg_database`` and migrate it."""
    from django.core.management import call_command
    from django.db import connections

    from djprocess_example.settings import database_from_url

    old_settings = connections.settings["default"]
    old_wrapper = connections["default"]
    configured = connections.configure_settings({"default": database_from_url(pg_database)})
    connections.settings["default"] = configured["default"]
    connections["default"] = connections.create_connection("default")
    try:
        with django_db_blocker.unblock():
            call_command("migrate", verbosity=0)
            yield pg_database
            from djprocess.logs import _store as logstore

            logstore.close_private_connections()
            connections["default"].close()
    finally:
        connections.settings["default"] = old_settings
        connections["default"] = old_wrapper


# -- brokers ------------------------------------------------------------------------


@dataclass
class Broker:
    name: str
    url: str
    queues: list[str] = field(default_factory=list)

    def new_queues(self, tag: str) -> tuple[str, str]:
        """Two fresh queue names (process, supervisor), remembered for cleanup."""
        names = (f"djp-it-{RUN_ID}-{tag}-processes", f"djp-it-{RUN_ID}-{tag}-supervisor")
        self.queues.extend(names)
        return names


def _purge(app: Any, queues: list[str], *, delete: bool) -> None:
    with app.connection_for_write() as connection:
        channel = connection.default_channel
        for queue in queues:
            with contextlib.suppress(Exception):
                if delete:
                    channel.queue_delete(queue)
                else:
                    channel.queue_purge(queue)


def _namespaced(key: str) -> str:
    return f"CELERY_{key.upper()}"


def _set_conf(conf: Any, key: str, value: Any) -> None:
    """Set a Celery setting so that this Celery version reads it: 5.4 looks up the
    Django-namespaced ``CELERY_<KEY>`` before ``<key>``."""
    conf[key] = value
    if conf.get(key) != value or getattr(conf, key) != value:
        conf[_namespaced(key)] = value
    assert getattr(conf, key) == value, key


def _reset_connections(app: Any) -> None:
    """Forget pooled connections and producers bound to the previous broker (the
    control mailbox caches its producer pool)."""
    if app._pool is not None:
        app._pool.force_close_all()
        app._pool = None
    app.amqp._producer_pool = None
    app.__dict__.pop("control", None)
    # kombu's global pools are keyed by broker URL: coming back to a broker used before
    # (redis, rabbitmq, redis) would otherwise acquire from the pool closed above.
    from kombu import pools

    pools.reset()


@pytest.fixture(scope="package", params=sorted(BROKER_URLS), ids=lambda name: name)
def broker(request: pytest.FixtureRequest, django_pg: str) -> Iterator[Broker]:
    """The test process's Celery app on a real broker (not eager)."""
    name = request.param
    require_service("Redis" if name == "redis" else "RabbitMQ")
    from djprocess_example.celery import app

    url = BROKER_URLS[name]
    if name == "redis":
        import redis

        redis.Redis.from_url(url).flushdb()
    wanted = {"broker_url": url, "task_always_eager": False, "broker_transport_options": {}}
    keys = [*wanted, *(_namespaced(key) for key in wanted)]
    saved = {key: app.conf[key] for key in keys if key in app.conf}
    app.set_current()
    app.set_default()
    _reset_connections(app)
    for key, value in wanted.items():
        _set_conf(app.conf, key, value)
    found = Broker(name, url)
    try:
        yield found
    finally:
        _purge(app, found.queues, delete=True)
        if name == "redis":
            import redis

            redis.Redis.from_url(url).flushdb()
        _reset_connections(app)
        for key in keys:
            if key in saved:
                app.conf[key] = saved[key]
            else:
                app.conf.pop(key, None)


# -- workers ------------------------------------------------------------------------


@dataclass
class Cluster:
    """Workers for one process queue and one supervisor queue, and the matching
    settings for the test process."""

    broker: Broker
    db_url: str
    state_dir: Path
    tag: str
    retries: int = RETRIES
    wait: float = WAIT
    process_concurrency: int = 3
    supervisor_concurrency: int = 2
    extra_env: dict[str, str] = field(default_factory=dict)
    worker_prefix: tuple[str, ...] = ()
    process_workers: list[Worker] = field(default_factory=list)
    supervisor_workers: list[Worker] = field(default_factory=list)
    stopped: list[Worker] = field(default_factory=list)
    process_queue: str = ""
    supervisor_queue: str = ""

    def __post_init__(self) -> None:
        self.process_queue, self.supervisor_queue = self.broker.new_queues(self.tag)

    @property
    def env(self) -> dict[str, str]:
        return {
            "DJANGO_SETTINGS_MODULE": "djprocess_example.settings",
            "EXAMPLE_DB": self.db_url,
            "EXAMPLE_BROKER_URL": self.broker.url,
            "EXAMPLE_STATE_DIR": str(self.state_dir),
            "EXAMPLE_PROCESS_QUEUE": self.process_queue,
            "EXAMPLE_SUPERVISOR_QUEUE": self.supervisor_queue,
            "EXAMPLE_KILL_TERM_RETRIES": str(self.retries),
            "EXAMPLE_KILL_TERM_WAIT_SECONDS": str(self.wait),
            **self.extra_env,
        }

    @property
    def workers(self) -> list[Worker]:
        return self.process_workers + self.supervisor_workers

    def settings(self) -> Any:
        """``override_settings`` making the test process talk to these workers."""
        from django.test import override_settings

        return override_settings(
            DJPROCESS_PROCESS_QUEUE=self.process_queue,
            DJPROCESS_SUPERVISOR_QUEUE=self.supervisor_queue,
            DJPROCESS_KILL_TERM_RETRIES=self.retries,
            DJPROCESS_KILL_TERM_WAIT_SECONDS=self.wait,
        )

    def _worker(self, queue: str, concurrency: int, role: str) -> Worker:
        index = len(self.workers) + len(self.stopped)
        return Worker(
            queue,
            concurrency,
            self.env,
            self.state_dir / f"{self.tag}-{role}-{index}.log",
            prefix=self.worker_prefix,
        )

    def add_process_worker(self, concurrency: int | None = None) -> Worker:
        worker = self._worker(self.process_queue, concurrency or self.process_concurrency, "p")
        self.process_workers.append(worker.start())
        return worker

    def add_supervisor_worker(self) -> Worker:
        worker = self._worker(self.supervisor_queue, self.supervisor_concurrency, "s")
        self.supervisor_workers.append(worker.start())
        return worker

    def start(self) -> Cluster:
        self.add_process_worker()
        self.add_supervisor_worker()
        self.ready()
        return self

    def ready(self) -> None:
        from djprocess_example.celery import app

        try:
            wait_until_ready(app, self.workers, timeout=60)
        except (TimeoutError, RuntimeError) as exc:
            pytest.fail(f"{exc}\n{self.log_tail()}", pytrace=False)

    def forget(self, worker: Worker) -> None:
        """``worker`` was stopped or killed by the test: stop tracking it as live."""
        for group in (self.process_workers, self.supervisor_workers):
            if worker in group:
                group.remove(worker)
        self.stopped.append(worker)

    def log_tail(self, lines: int = 40) -> str:
        out = []
        for worker in self.workers + self.stopped:
            if worker.log_path.exists():
                text = worker.log_path.read_text(errors="replace").splitlines()[-lines:]
                out.append(f"--- {worker.log_path.name}\n" + "\n".join(text))
        return "\n".join(out)

    def log_text(self, worker: Worker) -> str:
        return worker.log_path.read_text(errors="replace") if worker.log_path.exists() else ""

    def errors_in_logs(self, allowed: tuple[str, ...] = ()) -> list[str]:
        """Lines of the worker logs that show an error (tracebacks, ERROR records)."""
        bad = re.compile(r"Traceback|\bERROR\b|\bCRITICAL\b|Exception|exception")
        found = []
        for worker in self.workers + self.stopped:
            for line in self.log_text(worker).splitlines():
                if bad.search(line) and not any(text in line for text in allowed):
                    found.append(f"{worker.log_path.name}: {line}")
        return found

    def assert_healthy(self, timeout: float = 15.0) -> None:
        """Every live worker answers, has its full pool, and runs nothing else
        (no orphan left by a run)."""
        self.ready()

        def settled() -> bool:
            for worker in self.workers:
                if worker.popen is None or worker.popen.poll() is not None:
                    pytest.fail(f"worker {worker.hostname} died\n{self.log_tail()}")
                pool = [pid for pid in worker.pool_pids() if _alive(pid)]
                session = worker.session_processes()
                if len(pool) != worker.concurrency or len(session) != 1 + worker.concurrency:
                    return False
            return True

        try:
            wait_for(settled, timeout, "the worker pools to be full and free of orphans")
        except pytest.fail.Exception:
            detail = [
                f"{w.hostname}: pool={w.pool_pids()} session="
                f"{[(p.pid, p.name()) for p in w.session_processes()]}"
                for w in self.workers
            ]
            pytest.fail("\n".join(detail), pytrace=False)

    def stop(self) -> list[str]:
        """Stop every worker; returns what was left alive in their sessions."""
        left = []
        for worker in self.workers + self.stopped:
            with contextlib.suppress(Exception):
                worker.stop()
            left += [f"{p.pid} {p.name()}" for p in worker.session_processes()]
        return left


@pytest.fixture(scope="session")
def state_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("djprocess-it")


@pytest.fixture(scope="package")
def shared_cluster(broker: Broker, pg_database: str, state_dir: Path) -> Iterator[Cluster]:
    cluster = Cluster(broker, pg_database, state_dir, tag=f"{broker.name}-shared")
    try:
        cluster.start()
        yield cluster
    finally:
        left = cluster.stop()
        assert not left, f"processes left alive after stopping the workers: {left}"


@pytest.fixture
def cluster(shared_cluster: Cluster) -> Iterator[Cluster]:
    """The shared workers of the current broker, checked healthy after the test."""
    with shared_cluster.settings():
        yield shared_cluster
        shared_cluster.assert_healthy()


@pytest.fixture
def make_cluster(
    broker: Broker, pg_database: str, state_dir: Path, request: pytest.FixtureRequest
) -> Iterator[Callable[..., Cluster]]:
    """Factory of private workers: ``make_cluster(process_concurrency=1, retries=2, ...)``."""
    made: list[tuple[Cluster, Any]] = []

    def make(**options: Any) -> Cluster:
        tag = f"{broker.name}-{re.sub(r'[^a-z0-9]+', '-', request.node.name.lower())[:40]}"
        tag = f"{tag}-{len(made)}"
        cluster = Cluster(broker, pg_database, state_dir, tag=tag, **options)
        override = cluster.settings()
        override.enable()
        made.append((cluster, override))
        cluster.start()
        return cluster

    yield make
    leftovers = []
    for cluster, override in reversed(made):
        leftovers += cluster.stop()
        override.disable()
    assert not leftovers, f"processes left alive after stopping the workers: {leftovers}"
