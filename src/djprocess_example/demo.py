"""The demo: four processes on real prefork workers, on SQLite and ``filesystem://``.

(a) logs and succeeds; (b) overruns a 2 s timeout (8 s with ``--backend gvisor``, whose
sandboxes take seconds to start) and obeys SIGTERM; (c) ignores SIGTERM and must be
SIGKILLed; (d) is cancelled while running. Prints each one's status, duration and first
log page, stops the workers and exits 0 when every process ended as expected and nothing
was left running.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

__all__ = ["EXPECTED", "run_demo"]

EXPECTED = {"a": "succeeded", "b": "timed_out", "c": "timed_out", "d": "cancelled"}


def _wait_for(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.1)


def _configure(broker: str, state: Path, backend: str) -> None:
    os.environ["DJANGO_SETTINGS_MODULE"] = "djprocess_example.settings"
    os.environ["EXAMPLE_WORKER_BACKEND"] = backend
    os.environ["EXAMPLE_STATE_DIR"] = str(state)
    os.environ["EXAMPLE_BROKER_URL"] = broker
    os.environ["EXAMPLE_DB"] = f"sqlite:///{state / 'db.sqlite3'}"
    # A short escalation keeps the demo short: SIGTERM twice, 0.5 s apart, then SIGKILL.
    os.environ.setdefault("EXAMPLE_KILL_TERM_RETRIES", "2")
    os.environ.setdefault("EXAMPLE_KILL_TERM_WAIT_SECONDS", "0.5")
    for folder in ("broker/queue", "broker/control"):
        (state / folder).mkdir(parents=True, exist_ok=True)


def _purge(app: Any, broker: str) -> None:
    """Empty the demo's queues on a shared broker (stale tasks name rows of another run)."""
    if broker.startswith("filesystem://"):
        return  # a fresh folder per run
    with app.connection_for_write() as connection:
        for queue in ("processes", "supervisor"):
            with contextlib.suppress(Exception):  # a queue that does not exist yet
                connection.default_channel.queue_purge(queue)


def run_demo(
    broker: str = "filesystem://", state_dir: str | None = None, backend: str = "celery"
) -> int:
    """Run the demo; returns the process exit code (0 when all four ended as expected).

    ``backend``: ``celery`` (runs forked by the pool children), ``subprocess`` (a child
    interpreter per run) or ``gvisor`` (a gVisor sandbox per run)."""
    state = Path(state_dir) if state_dir else Path(tempfile.mkdtemp(prefix="djprocess-demo-"))
    _configure(broker, state, backend)

    import django

    django.setup()
    from django.core.management import call_command

    from djprocess_example.celery import app
    from djprocess_example.models import ExampleProcess
    from djprocess_example.workers import Worker, stop_all, wait_until_ready

    call_command("migrate", verbosity=0)
    env = {
        key: os.environ[key]
        for key in (
            "DJANGO_SETTINGS_MODULE",
            "EXAMPLE_STATE_DIR",
            "EXAMPLE_BROKER_URL",
            "EXAMPLE_DB",
            "EXAMPLE_KILL_TERM_RETRIES",
            "EXAMPLE_KILL_TERM_WAIT_SECONDS",
            "EXAMPLE_WORKER_BACKEND",
        )
    }
    _purge(app, broker)
    workers = [
        Worker("processes", 3, env, state / "worker-processes.log"),
        Worker("supervisor", 2, env, state / "worker-supervisor.log"),
    ]
    print(f"djprocess demo: backend {backend}, broker {broker}, database {state / 'db.sqlite3'}")
    print("starting workers: celery worker -Q processes -P prefork / -Q supervisor -P prefork")
    for worker in workers:
        worker.start()
    processes: dict[str, Any] = {}
    try:
        wait_until_ready(app, workers)
        processes["a"] = ExampleProcess.objects.create(kind="succeed", seconds=1, lines=3)
        processes["b"] = ExampleProcess.objects.create(kind="sleep", seconds=60)
        processes["c"] = ExampleProcess.objects.create(kind="ignore_term", seconds=60)
        processes["d"] = ExampleProcess.objects.create(kind="sleep", seconds=60)
        # A sandbox takes seconds to start (an interpreter and django.setup() inside, on a
        # busy host): give b and c the time to reach run(), or the stop lands in the start.
        overrun = timedelta(seconds=8 if backend == "gvisor" else 2)
        processes["b"].timeout = overrun
        processes["c"].timeout = overrun
        for process in processes.values():
            process.start()
        d = processes["d"]
        _wait_for(
            lambda: ExampleProcess.objects.get(pk=d.pk).status == "running",
            60,
            "process d to start running",
        )
        print("cancelling d while it runs ...")
        d.cancel()
        _wait_for(
            lambda: all(
                ExampleProcess.objects.get(pk=p.pk).is_finished for p in processes.values()
            ),
            90,
            "all four processes to end",
        )
    finally:
        # Every process has ended: the workers are idle, so a short warm shutdown (then
        # SIGKILL of what is left of them) loses nothing. Celery's own takes ~5 s on
        # filesystem://, most of it waiting in a 2 s broker poll.
        stop_all(workers, timeout=1.5)
        _purge(app, broker)  # watchdogs of finished processes must not outlive the demo
    return _report(processes, workers, state, cleanup=not state_dir)


def _left_running(workers: list[Any], state: Path) -> list[str]:
    """What is still alive of the demo: processes in the workers' sessions, processes
    started for it elsewhere (a run's own session: they carry its state folder in their
    environment) and gVisor sandboxes."""
    import psutil

    found = [f"{p.pid} {p.name()}" for w in workers for p in w.session_processes()]
    for proc in psutil.process_iter(["pid"]):
        with contextlib.suppress(psutil.Error, OSError):
            if proc.pid != os.getpid() and proc.environ().get("EXAMPLE_STATE_DIR") == str(state):
                found.append(f"{proc.pid} {proc.name()}")
    runsc_root = state / "runsc"
    if runsc_root.exists():
        listed = subprocess.run(
            ["runsc", "--root", str(runsc_root), "list", "-quiet"],
            capture_output=True,
            text=True,
            check=False,
        )
        found += [f"sandbox {name}" for name in listed.stdout.split()]
    return sorted(set(found))


def _report(processes: dict[str, Any], workers: list[Any], state: Path, cleanup: bool) -> int:
    ok = True
    for name, process in processes.items():
        process.refresh_from_db()
        expected = EXPECTED[name]
        mark = "ok" if process.status == expected else f"EXPECTED {expected}"
        ok &= process.status == expected
        print(
            f"\n({name}) {process.kind}: {process.status} [{mark}] "
            f"in {process.duration}  {process.termination}"
        )
        page = process.paginate_logs(page=1, per_page=50)
        for entry in page:
            print(f"    {entry.sequence:>3} {entry.level:<8} {entry.message.splitlines()[0]}")
        if page.paginator.num_pages > 1:
            print(f"    ... {page.paginator.count} lines in {page.paginator.num_pages} pages")
    leftovers = _left_running(workers, state)
    print(f"\nworkers stopped; leftover processes: {len(leftovers)}")
    for leftover in leftovers:
        print(f"    {leftover}")
    ok &= not leftovers
    if cleanup:
        shutil.rmtree(state, ignore_errors=True)
    print("demo OK" if ok else "demo FAILED")
    return 0 if ok else 1
