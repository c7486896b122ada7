"""``manage.py djprocess_start LABEL PK [PK ...]``: start pending processes.

Exit codes: 0 every one started; 1 at least one was not (already started or finished, or
the backend failed); 2 unknown model label or pk (nothing is started then).
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from djprocess import operations
from djprocess.management.lookup import REFUSED, add_process_arguments, get_process


class Command(BaseCommand):
    help = (
        "Start pending processes: dispatch them to the workers (process.start()). Exit codes: "
        "0 all started; 1 some not (already started or finished, backend error); "
        "2 unknown model label or pk."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        add_process_arguments(parser, many=True)

    def handle(self, *args: Any, **options: Any) -> None:
        processes = [get_process(options["model"], pk) for pk in options["pks"]]
        failed = 0
        for process in processes:
            outcome = operations.start(process)
            failed += not outcome.done
            self.stdout.write(f"{process._meta.label} {process.pk}: {outcome.phrase}")
        if failed:
            raise CommandError(f"{failed} of {len(processes)} not started", returncode=REFUSED)
