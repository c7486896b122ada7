"""Log benchmarks. Prints ratios against baselines measured in the same run, never absolute
pass/fail thresholds.

* pagination: page 1 vs page 10 000 of a large log with ``paginate_logs()`` (range on the
  gapless sequence, count from the counter) and with Django's stock ``Paginator``
  (``COUNT(*)`` + ``OFFSET``);
* writing: one ``log_many()`` of N lines vs N ``log()`` calls.

Usage: ``python benchmarks/run.py [--db sqlite:////tmp/bench.sqlite3 | postgres://postgres@127.0.0.1:5432/bench]
[--lines 200000] [--per-page 20]``. The database is created (SQLite) or must exist
(PostgreSQL) and is migrated; the benchmark's rows are deleted afterwards.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path


def best_of(fn: Callable[[], object], repeat: int = 5) -> float:
    """Median wall time of ``fn`` in seconds over ``repeat`` runs (after one warm-up)."""
    fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--db", default="", help="EXAMPLE_DB URL (default: a temporary SQLite file)"
    )
    parser.add_argument("--lines", type=int, default=200_000)
    parser.add_argument("--per-page", type=int, default=20)
    parser.add_argument("--writes", type=int, default=1000)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="djprocess-bench-"))
    os.environ["EXAMPLE_DB"] = args.db or f"sqlite:///{workdir / 'bench.sqlite3'}"
    os.environ.setdefault("EXAMPLE_STATE_DIR", str(workdir))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "djprocess_example.settings")
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

    import django

    django.setup()
    from django.core.management import call_command
    from django.core.paginator import Paginator
    from django.db import connection

    from djprocess.logs import LogEntry
    from djprocess_example.models import ExampleProcess

    call_command("migrate", verbosity=0)
    deep = args.lines // args.per_page
    print(f"database: {connection.vendor}, {args.lines} lines, {args.per_page} per page")

    process = ExampleProcess.objects.create()
    try:
        chunk = 10_000
        for start in range(0, args.lines, chunk):
            count = min(chunk, args.lines - start)
            process.log_many([LogEntry(message=f"line {start + n}") for n in range(count)])
        assert process.log_count() == args.lines

        lines = process.logs.order_by("sequence")
        ours_1 = best_of(lambda: list(process.paginate_logs(1, args.per_page)))
        ours_deep = best_of(lambda: list(process.paginate_logs(deep, args.per_page)))
        stock_1 = best_of(lambda: list(Paginator(lines, args.per_page).page(1)))
        stock_deep = best_of(lambda: list(Paginator(lines, args.per_page).page(deep)))
        print("\npagination (median of 5)")
        print(f"  paginate_logs   page {deep} / page 1: {ours_deep / ours_1:8.2f}x")
        print(f"  stock Paginator page {deep} / page 1: {stock_deep / stock_1:8.2f}x")
        print(f"  stock / paginate_logs at page {deep}: {stock_deep / ours_deep:8.2f}x")
        print(f"  stock / paginate_logs at page 1:     {stock_1 / ours_1:8.2f}x")

        writer = ExampleProcess.objects.create()
        entries = [LogEntry(message=f"w {n}") for n in range(args.writes)]
        start = time.perf_counter()
        writer.log_many(entries)
        batch = time.perf_counter() - start
        start = time.perf_counter()
        for entry in entries:
            writer.log(entry.message)
        single = time.perf_counter() - start
        print(f"\nwriting {args.writes} lines")
        print(f"  {args.writes} x log() / one log_many(): {single / batch:8.2f}x")
        writer.delete()
    finally:
        process.delete()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
