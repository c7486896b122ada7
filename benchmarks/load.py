"""The timeout under load: N processes started at once on real prefork workers.

Half the processes finish quickly, half overrun their timeout. Everything is real: a fresh
PostgreSQL database, Redis as the broker, ``celery worker -P prefork`` for the process queue
(``-c`` :option:`--concurrency`) and the supervisor queue (``-c 2``). Reported:

* dispatch: ``start()`` per process against two bare ``apply_async`` calls of the same tasks on
  the same broker, measured in the same run (the anchor);
* the share of overrunning processes stopped on time (finished within ``N x W + 1 s`` of
  ``started_at + timeout``), and how many were wrongly recorded ``succeeded``;
* watchdog work per process: watchdog tasks run, and rows the sweeper acted on;
* worker memory: resident memory (main process and pool children) of both workers after the
  first 10 % of the processes ended and at the end;
* the wall time and the load average.

Usage: ``python benchmarks/load.py [--processes 1000] [--concurrency 2] [--json out.json]``.
Needs PostgreSQL (127.0.0.1:5432, trust, database ``test`` to create a scratch database from;
``BENCH_PG`` overrides the server URL) and Redis (``BENCH_REDIS``, default db 9).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import psutil

PG = os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432")
REDIS = os.environ.get("BENCH_REDIS", "redis://127.0.0.1:6379/9")
RETRIES, WAIT = 2, 0.5
TIMEOUT = 2.0


def rss_mb(pid: int) -> float:
    """Resident memory of ``pid`` and its children, in MB."""
    try:
        main = psutil.Process(pid)
        procs = [main, *main.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0.0
    total = 0
    for proc in procs:
        try:
            total += proc.memory_info().rss
        except psutil.NoSuchProcess:
            continue
    return total / 1e6


def _median_max(values: Any) -> list[float]:
    found = sorted(values)
    return [round(statistics.median(found), 3), round(found[-1], 3)] if found else []


def _received(log: str, task: str) -> int:
    """How many ``task`` messages a worker log says it received."""
    return sum(1 for line in log.splitlines() if f"{task}[" in line and "received" in line)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--json", default="", help="write the figures to this file")
    args = parser.parse_args()

    import psycopg

    name = f"djp_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(f"{PG}/test", autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    state = Path(tempfile.mkdtemp(prefix="djprocess-load-"))
    tag = uuid.uuid4().hex[:6]
    env = {
        "DJANGO_SETTINGS_MODULE": "djprocess_example.settings",
        "EXAMPLE_DB": f"{PG}/{name}",
        "EXAMPLE_BROKER_URL": REDIS,
        "EXAMPLE_STATE_DIR": str(state),
        "EXAMPLE_PROCESS_QUEUE": f"bench-{tag}-processes",
        "EXAMPLE_SUPERVISOR_QUEUE": f"bench-{tag}-supervisor",
        "EXAMPLE_KILL_TERM_RETRIES": str(RETRIES),
        "EXAMPLE_KILL_TERM_WAIT_SECONDS": str(WAIT),
    }
    os.environ.update(env)
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    try:
        return run(args, env, state)
    finally:
        from django.db import connections

        connections.close_all()
        with psycopg.connect(f"{PG}/test", autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def run(args: argparse.Namespace, env: dict[str, str], state: Path) -> int:
    import django

    django.setup()
    import redis
    from django.core.management import call_command

    from djprocess_celery.tasks import run_process, watchdog
    from djprocess_example.celery import app
    from djprocess_example.models import ExampleProcess
    from djprocess_example.workers import Worker, wait_until_ready

    call_command("migrate", verbosity=0)
    redis.Redis.from_url(REDIS).flushdb()
    n = args.processes

    # The anchor: two bare apply_async per process (never consumed: purged afterwards).
    anchor_queue = f"{env['EXAMPLE_PROCESS_QUEUE']}-anchor"
    app.connection_for_write().ensure_connection()
    run_process.apply_async(("x", 0), queue=anchor_queue)  # warm the producer pool
    started = time.perf_counter()
    for _ in range(n):
        watchdog.apply_async(("x", 0), countdown=TIMEOUT, queue=anchor_queue, serializer="json")
        run_process.apply_async(("x", 0), queue=anchor_queue, serializer="json")
    anchor = (time.perf_counter() - started) / n
    redis.Redis.from_url(REDIS).delete(anchor_queue)

    processes = []
    for number in range(n):
        quick = number % 2 == 0
        processes.append(
            ExampleProcess.objects.create(
                kind="quiet", seconds=0.2 if quick else 30.0, timeout=timedelta(seconds=TIMEOUT)
            )
        )
    started = time.perf_counter()
    for process in processes:
        process.start()
    dispatch = (time.perf_counter() - started) / n

    workers = [
        Worker(env["EXAMPLE_PROCESS_QUEUE"], args.concurrency, env, state / "processes.log"),
        Worker(env["EXAMPLE_SUPERVISOR_QUEUE"], 2, env, state / "supervisor.log"),
    ]
    wall = time.monotonic()
    for worker in workers:
        worker.start()
    memory: dict[str, list[float]] = {"processes": [], "supervisor": []}
    try:
        wait_until_ready(app, workers, timeout=120)
        finished = ExampleProcess.objects.filter(finished_at__isnull=False)
        while finished.count() < n // 10:
            time.sleep(1)
        for worker, key in zip(workers, memory, strict=True):
            memory[key].append(rss_mb(worker.pid))
        deadline = time.monotonic() + n * (TIMEOUT + RETRIES * WAIT + 2) / args.concurrency + 120
        while finished.count() < n and time.monotonic() < deadline:
            time.sleep(1)
        for worker, key in zip(workers, memory, strict=True):
            memory[key].append(rss_mb(worker.pid))
        wall = time.monotonic() - wall
        load = os.getloadavg()
    finally:
        for worker in workers:
            worker.stop()
    rows = list(ExampleProcess.objects.order_by("pk"))
    overrun = [p for p in rows if p.seconds > TIMEOUT]
    budget = timedelta(seconds=TIMEOUT + RETRIES * WAIT + 1.0)
    on_time = [
        p for p in overrun
        if p.status == "timed_out" and p.finished_at and p.finished_at - p.started_at <= budget
    ]  # fmt: skip
    late = sorted(
        (p.finished_at - p.started_at - budget).total_seconds()
        for p in overrun
        if p.finished_at and p.finished_at - p.started_at > budget
    )
    supervisor_log = (state / "supervisor.log").read_text(errors="replace")
    figures: dict[str, Any] = {
        "processes": n,
        "concurrency": args.concurrency,
        "timeout_s": TIMEOUT,
        "kill": f"N={RETRIES}, W={WAIT}s",
        "dispatch_ms_per_start": round(dispatch * 1000, 2),
        "anchor_ms_two_apply_async": round(anchor * 1000, 2),
        "start_vs_anchor": round(dispatch / anchor, 2),
        "unfinished": sum(1 for p in rows if p.finished_at is None),
        "overruns": len(overrun),
        "overruns_stopped_on_time": len(on_time),
        "overruns_recorded_succeeded": sum(1 for p in overrun if p.status == "succeeded"),
        "late_by_s_median": round(statistics.median(late), 2) if late else 0.0,
        # SIGTERM obeyed: finished_at - (started_at + timeout), the stop and its record.
        "stop_after_deadline_s_median_max": _median_max(
            (p.finished_at - p.started_at).total_seconds() - TIMEOUT
            for p in overrun
            if p.finished_at
        ),
        "quick_succeeded": sum(1 for p in rows if p.seconds < TIMEOUT and p.status == "succeeded"),
        "watchdog_tasks_per_process": round(_received(supervisor_log, "djprocess.watchdog") / n, 3),
        "memory_mb_processes_at_10pct_and_end": [round(m, 1) for m in memory["processes"]],
        "memory_mb_supervisor_at_10pct_and_end": [round(m, 1) for m in memory["supervisor"]],
        "wall_s": round(wall, 1),
        "loadavg_1_5_15": [round(x, 2) for x in load],
    }
    width = max(map(len, figures))
    for key, value in figures.items():
        print(f"{key:<{width}}  {value}")
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2))
    ok = figures["overruns_recorded_succeeded"] == 0 and figures["unfinished"] == 0
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
