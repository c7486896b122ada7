"""``manage.py djprocess_purge --older-than 30d``: delete old finished processes and their logs."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from django.apps import apps
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import router, transaction
from django.utils import timezone

from djprocess import status
from djprocess.backends.labels import resolve
from djprocess.exceptions import UnknownProcessModel

__all__ = ["Command"]

_AGE = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_age(text: str) -> timedelta:
    """``"30d"`` → 30 days; units ``s``, ``m``, ``h``, ``d``, ``w``. Raises
    :class:`CommandError` naming the value otherwise."""
    match = _AGE.match(text)
    if not match:
        raise CommandError(
            f"--older-than {text!r}: use a whole number and a unit, e.g. 30d, 12h, 90m, 2w"
        )
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


def process_models(labels: list[str]) -> list[type[Any]]:
    """The process models named by ``labels`` (``app_label.ModelName``), or all of them."""
    from djprocess.models import BaseProcess

    if not labels:
        return [
            model
            for model in apps.get_models()
            if issubclass(model, BaseProcess) and not model._meta.abstract
        ]
    try:
        return [resolve(label.lower()) for label in labels]
    except UnknownProcessModel as exc:
        raise CommandError(f"--model: {exc}") from None


class Command(BaseCommand):
    help = (
        "Delete finished processes (a terminal status and finished_at set) that finished more "
        "than --older-than ago, with their log lines, in batches."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--older-than",
            required=True,
            metavar="AGE",
            help="Minimum age since finished_at: a number and a unit s/m/h/d/w, e.g. 30d.",
        )
        parser.add_argument(
            "--status",
            action="append",
            default=[],
            metavar="STATUS",
            help="Only this terminal status (repeatable; default: all terminal statuses).",
        )
        parser.add_argument(
            "--model",
            action="append",
            default=[],
            metavar="APP_LABEL.MODEL",
            help="Only this process model (repeatable; default: every BaseProcess model).",
        )
        parser.add_argument(
            "--batch-size",
            type=int,
            default=500,
            metavar="N",
            help="Processes deleted per transaction (default 500).",
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="Only say how many would be deleted."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        from djprocess.logs._sql import counter_label
        from djprocess.models import LogCounter

        age = parse_age(options["older_than"])
        statuses = options["status"] or sorted(status.TERMINAL)
        wrong = [value for value in statuses if value not in status.TERMINAL]
        if wrong:
            raise CommandError(
                f"--status {wrong[0]!r} is not a terminal status: use one of "
                f"{', '.join(sorted(status.TERMINAL))}"
            )
        batch_size = options["batch_size"]
        if batch_size < 1:
            raise CommandError(f"--batch-size must be >= 1, got {batch_size}")
        cutoff = timezone.now() - age
        for model in process_models(options["model"]):
            label = model._meta.label
            counter = counter_label(model)
            log_model, fk_name = model.log_model()
            db = router.db_for_write(model)
            old = model._base_manager.using(db).filter(
                status__in=statuses, finished_at__isnull=False, finished_at__lt=cutoff
            )
            if options["dry_run"]:
                self.stdout.write(f"{label}: would delete {old.count()} processes")
                continue
            processes = lines = 0
            while True:
                with transaction.atomic(using=db):
                    pks = list(old.order_by("pk").values_list("pk", flat=True)[:batch_size])
                    if not pks:
                        break
                    # One DELETE for the lines (a fast delete unless the log model has
                    # delete signals), then the processes.
                    lines += (
                        log_model._base_manager.using(db)
                        .filter(**{f"{fk_name}_id__in": pks})
                        .delete()[0]
                    )
                    model._base_manager.using(db).filter(pk__in=pks).delete()
                    LogCounter._base_manager.using(db).filter(
                        model=counter, object_id__in=[str(pk) for pk in pks]
                    ).delete()
                processes += len(pks)
                if options["verbosity"] >= 2:
                    self.stdout.write(f"{label}: deleted a batch of {len(pks)} processes")
            self.stdout.write(f"{label}: deleted {processes} processes and {lines} log lines")
