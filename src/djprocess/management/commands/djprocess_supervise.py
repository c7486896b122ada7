"""``manage.py djprocess_supervise``: run the supervisor's sweeper in the foreground.

A Celery worker consuming ``DJPROCESS_SUPERVISOR_QUEUE`` runs the sweeper itself; use this
command where none does (another backend, a dedicated supervision process). Stops on
SIGINT/SIGTERM. ``--once`` sweeps a single time and prints what it did.

Exit codes: 0 after a clean stop or ``--once``; 1 if the database could not be read with
``--once``.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db import DatabaseError

from djprocess.conf import settings
from djprocess.supervision.sweeper import Sweeper, sweep

__all__ = ["Command"]


class Command(BaseCommand):
    help = (
        "Run the djprocess sweeper: every DJPROCESS_SWEEP_SECONDS, check the processes whose "
        "next_check_at has come (deadlines, lost workers, unconfirmed stops, lost tasks)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--once", action="store_true", help="sweep once, print, and exit")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["once"]:
            try:
                done = sweep()
            except DatabaseError as exc:
                self.stderr.write(f"cannot read the processes: {exc}")
                raise SystemExit(1) from exc
            self.stdout.write(
                ", ".join(f"{k.value}: {v}" for k, v in done.items()) or "nothing due"
            )
            return
        stopped = threading.Event()

        def stop(signum: int, frame: FrameType | None) -> None:
            stopped.set()

        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, stop)
        sweeper = Sweeper()
        sweeper.start()
        self.stdout.write(
            f"djprocess sweeper running every {settings.SWEEP_SECONDS:g}s; Ctrl-C stops"
        )
        stopped.wait()
        sweeper.stop()
        self.stdout.write("djprocess sweeper stopped")
