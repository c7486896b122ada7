"""``manage.py djprocess_list [--model LABEL] [--status STATUS] [--limit N]``.

Prints one line per process, newest first: model, pk, status, progress, duration, when it
started and how it ended. Exit codes: 0; 2 for an unknown model label or status.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from djprocess import display
from djprocess.management.lookup import (
    USAGE,
    parse_statuses,
    process_model,
    process_model_labels,
)

__all__ = ["Command"]

COLUMNS = ("MODEL", "PK", "STATUS", "PROGRESS", "DURATION", "STARTED", "HOW IT ENDED")


class Command(BaseCommand):
    help = (
        "List processes, newest first, with status, progress, duration, start time and how "
        "they ended. Exit codes: 0 listed (even none); 2 unknown --model or --status."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--model",
            action="append",
            default=[],
            metavar="LABEL",
            help="Only this process model, app_label.ModelName (repeatable; default: all).",
        )
        parser.add_argument(
            "--status",
            action="append",
            default=[],
            metavar="STATUS",
            help="Only this status (repeatable): pending, running, succeeded, failed, "
            "cancelled, timed_out.",
        )
        parser.add_argument(
            "--limit",
            type=int,
            default=50,
            metavar="N",
            help="At most N processes per model (default 50).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        statuses = parse_statuses(options["status"])
        if options["limit"] < 1:
            raise CommandError("--limit must be at least 1", returncode=USAGE)
        labels = options["model"] or process_model_labels()
        rows: list[tuple[str, ...]] = []
        for label in labels:
            model = process_model(label)
            queryset = model._base_manager.order_by("-pk")
            if statuses:
                queryset = queryset.filter(status__in=statuses)
            for process in queryset[: options["limit"]]:
                rows.append(
                    (
                        model._meta.label,
                        str(process.pk),
                        process.status,
                        display.format_progress(process),
                        display.format_duration(process.duration),
                        process.started_at.strftime("%Y-%m-%d %H:%M:%S")
                        if process.started_at
                        else "",
                        display.ended_how(process),
                    )
                )
        if not rows:
            self.stdout.write("no processes")
            return
        widths = [max(len(row[i]) for row in [COLUMNS, *rows]) for i in range(len(COLUMNS))]
        for row in [COLUMNS, *rows]:
            cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=True)]
            self.stdout.write("  ".join(cells).rstrip())
