"""``manage.py djprocess_cancel LABEL PK [PK ...]``: cancel processes.

Waits for a running process's kill (seconds). Exit codes: 0 every one cancelled by this
command; 1 at least one had already finished (its status is unchanged) or the cancel failed;
2 unknown model label or pk (nothing is cancelled then).
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from djprocess import operations
from djprocess.management.lookup import REFUSED, add_process_arguments, get_process


class Command(BaseCommand):
    help = (
        "Cancel processes (process.cancel()): a pending one never runs, a running one is "
        "killed (SIGTERM, then SIGKILL). Exit codes: 0 all cancelled; 1 some had already "
        "finished or failed to cancel; 2 unknown model label or pk."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        add_process_arguments(parser, many=True)

    def handle(self, *args: Any, **options: Any) -> None:
        processes = [get_process(options["model"], pk) for pk in options["pks"]]
        failed = 0
        for process in processes:
            outcome = operations.cancel(process)
            failed += not outcome.done
            process.refresh_from_db()
            self.stdout.write(
                f"{process._meta.label} {process.pk}: {outcome.phrase} (status {process.status})"
            )
        if failed:
            raise CommandError(f"{failed} of {len(processes)} not cancelled", returncode=REFUSED)
