"""djprocess benchmarks: figures measured against an anchor in the same run.

Every figure is a ratio, ours against an anchor measured in the same run, on the same
database and machine (a plain ``create()``, Django's ``Paginator``…), never an absolute
time: the ratio survives a slower or busier machine, the absolute number does not. Each
figure runs several rounds, after ``VACUUM ANALYZE``; the table gives the median ratio with
its min and max, and the load average is recorded before and after.

Usage::

    python benchmarks/run.py [--db sqlite | postgres://postgres@127.0.0.1:5432/bench]
        [--size smoke|full] [--only NAME ...] [--json results.json]

``--size smoke`` (the default) is small enough for CI (well under two minutes);
``--size full`` is the one the docs quote (1 M and 5 M log lines: run it by hand, once).
The database is created (SQLite: a temporary file) or must exist (PostgreSQL: it is
migrated, and the benchmark's rows are deleted afterwards).

Adding a figure: write a function ``(ctx: Context) -> list[Result]`` in a module of this
folder, decorate it with ``@framework.figure("name", "what it measures")`` and add the module to
:data:`MODULES`.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from framework import FIGURES, SIZES, Context, Result  # noqa: E402

#: Modules of this folder that register figures.
MODULES = ("logs",)


def _setup(db: str, workdir: Path) -> str:
    if db in ("", "sqlite"):
        db = f"sqlite:///{workdir / 'bench.sqlite3'}"
    os.environ["EXAMPLE_DB"] = db
    os.environ.setdefault("EXAMPLE_STATE_DIR", str(workdir))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "djprocess_example.settings")
    sys.path.insert(0, str(HERE.parent / "src"))
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    return connection.vendor


def _machine(vendor: str) -> dict[str, Any]:
    from django.db import connection

    info: dict[str, Any] = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "database": vendor,
    }
    with connection.cursor() as cursor:
        if vendor == "postgresql":
            cursor.execute("SHOW server_version")
        else:
            cursor.execute("SELECT sqlite_version()")
        info["database_version"] = cursor.fetchone()[0]
    import django

    info["django"] = django.__version__
    return info


def table(results: list[Result]) -> str:
    """The results as a plain-text table."""
    rows = [("figure", "case", "ratio (median)", "min", "max", "target", "meaning")]
    for result in results:
        s = result.summary()
        rows.append(
            (
                result.figure,
                result.case,
                f"{s['median']:.2f}x",
                f"{s['min']:.2f}x",
                f"{s['max']:.2f}x",
                result.target,
                result.meaning,
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        for row in rows
    ]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--db", default="sqlite", help="sqlite (a temporary file) or a postgres:// URL"
    )
    parser.add_argument("--size", choices=sorted(SIZES), default="smoke")
    parser.add_argument("--only", nargs="*", default=None, metavar="NAME", help="figures to run")
    parser.add_argument("--json", default="", metavar="PATH", help="also write the results here")
    args = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="djprocess-bench-"))
    vendor = _setup(args.db, workdir)
    for module in MODULES:
        importlib.import_module(module)
    unknown = set(args.only or ()) - set(FIGURES)
    if unknown:
        parser.error(f"unknown figures {sorted(unknown)}; known: {sorted(FIGURES)}")
    size = SIZES[args.size]
    context = Context(size=size, vendor=vendor)
    machine = _machine(vendor)
    load_before = os.getloadavg()
    started = time.time()
    results: list[Result] = []
    for name, (description, fn) in FIGURES.items():
        if args.only and name not in args.only:
            continue
        print(f"{name}: {description} ...", flush=True)
        results.extend(fn(context))
    load_after = os.getloadavg()
    report = {
        "size": asdict(size),
        "machine": machine,
        "load_average_before": load_before,
        "load_average_after": load_after,
        "seconds": round(time.time() - started, 1),
        "results": [{**asdict(r), "summary": r.summary()} for r in results],
    }
    print()
    print(
        f"{machine['database']} {machine['database_version']}, size {size.name}, "
        f"{size.rounds} rounds, load average {load_before[0]:.2f} -> {load_after[0]:.2f}"
    )
    print(table(results))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
        print(f"\nwritten to {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
