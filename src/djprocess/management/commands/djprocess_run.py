"""``manage.py djprocess_run LABEL PK``: run one pending process here, synchronously.

For debugging: ``run()`` executes in this process (``process.execute()``, no worker and no
watchdog: the timeout is not enforced), then its log is printed. Exit codes: 0 it
succeeded; 1 it ended otherwise, or was not pending (then it is not run); 2 unknown model
label or pk.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from djprocess import display, status
from djprocess.management.lookup import REFUSED, add_process_arguments, get_process

__all__ = ["Command"]

PER_PAGE = 500


class Command(BaseCommand):
    help = (
        "Run one pending process in this process, synchronously (process.execute(); no worker, "
        "timeout not enforced), then print its log. Exit codes: 0 succeeded; 1 failed, "
        "cancelled or not pending; 2 unknown model label or pk."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        add_process_arguments(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        process = get_process(options["model"], options["pk"])
        if process.status != status.PENDING or process.dispatched_at is not None:
            raise CommandError(
                f"{process._meta.label} {process.pk} is {process.status}"
                f"{' (dispatched to a worker)' if process.dispatched_at else ''}: "
                "only a pending, undispatched process can be run",
                returncode=REFUSED,
            )
        final = process.execute()
        process.refresh_from_db()
        after = 0
        while lines := process.logs_after(after, PER_PAGE):
            for line in lines:
                self.stdout.write(f"{line.sequence:>6} {line.level:<8} {line.message}")
            after = lines[-1].sequence
        summary = f"{process._meta.label} {process.pk}: {final} in " + display.format_duration(
            process.duration
        )
        ended = display.ended_how(process)
        self.stdout.write(f"{summary}{f' ({ended})' if ended else ''}")
        if process.traceback:
            self.stderr.write(process.traceback.rstrip())
        if final != status.SUCCEEDED:
            raise CommandError(f"the run ended {final}", returncode=REFUSED)
