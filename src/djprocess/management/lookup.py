"""Finding the process a management command names, with the errors and exit codes the
``djprocess_*`` commands share.

Exit codes: ``0`` done; ``1`` the process was not in a state for it (or its run did not
succeed); ``2`` a usage error: an unknown model label, an unknown primary key, a bad option.
"""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.core.exceptions import ObjectDoesNotExist, ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from djprocess import operations, status
from djprocess.backends.labels import resolve
from djprocess.exceptions import UnknownProcessModel

__all__ = [
    "REFUSED",
    "USAGE",
    "ProcessActionCommand",
    "add_process_arguments",
    "get_process",
    "parse_statuses",
    "process_model",
    "process_model_labels",
]

#: Exit code of a usage error (unknown model label or primary key, bad option).
USAGE = 2
#: Exit code when the process was not in a state for the command, or did not succeed.
REFUSED = 1


def process_model_labels() -> list[str]:
    """Labels (``app_label.ModelName``) of every installed process model, sorted. Proxy
    models are left out: their rows are their concrete model's (still accepted by
    :func:`process_model`)."""
    from djprocess.models import BaseProcess

    return sorted(
        model._meta.label
        for model in apps.get_models()
        if issubclass(model, BaseProcess) and not model._meta.abstract and not model._meta.proxy
    )


def process_model(label: str) -> type[Any]:
    """The process model named ``label`` (``app_label.ModelName``, any case).

    Raises :class:`CommandError` (exit code :data:`USAGE`) naming the installed process
    models otherwise."""
    try:
        return resolve(label.lower())
    except UnknownProcessModel:
        known = ", ".join(process_model_labels()) or "none installed"
        raise CommandError(
            f"unknown process model {label!r}: use one of {known}", returncode=USAGE
        ) from None


def get_process(label: str, pk: str) -> Any:
    """The process ``pk`` of model ``label``. Raises :class:`CommandError` (exit code
    :data:`USAGE`) for an unknown label or primary key."""
    model = process_model(label)
    try:
        return model._base_manager.get(pk=pk)
    except (ObjectDoesNotExist, ValidationError, ValueError, TypeError):
        # ValueError/ValidationError: a pk that is not of the column's type ("abc" for an int).
        raise CommandError(
            f"{model._meta.label} has no process with pk {pk!r}", returncode=USAGE
        ) from None


def add_process_arguments(parser: CommandParser, *, many: bool = False) -> None:
    """The positional ``model`` and ``pk`` (``pks`` with ``many``) arguments."""
    parser.add_argument("model", help="process model label, app_label.ModelName (any case)")
    if many:
        parser.add_argument(
            "pks", nargs="+", metavar="pk", help="primary key(s) of the process(es)"
        )
    else:
        parser.add_argument("pk", help="primary key of the process")


def parse_statuses(values: list[str]) -> list[str]:
    """Check ``--status`` values; raises :class:`CommandError` (:data:`USAGE`) naming the
    valid statuses."""
    valid = [str(value) for value, _label in status.STATUS]
    for value in values:
        if value not in valid:
            raise CommandError(
                f"--status {value!r}: use one of {', '.join(valid)}", returncode=USAGE
            )
    return values


class ProcessActionCommand(BaseCommand):
    """A command that applies one :mod:`djprocess.operations` action to the processes
    ``LABEL PK [PK ...]`` names, a line each; exit code 1 (:data:`REFUSED`) if any was not
    done, 2 (:data:`USAGE`) before doing anything if a label or pk is unknown."""

    #: The :data:`djprocess.operations.ACTIONS` name; ``not_done`` words the failure count.
    action: str
    not_done: str
    #: Print each process's status after the action (a cancel waits for the kill).
    show_status = False

    def add_arguments(self, parser: CommandParser) -> None:
        add_process_arguments(parser, many=True)

    def handle(self, *args: Any, **options: Any) -> None:
        processes = [get_process(options["model"], pk) for pk in options["pks"]]
        failed = 0
        for process in processes:
            outcome = getattr(operations, self.action)(process)
            failed += not outcome.done
            line = f"{process._meta.label} {process.pk}: {outcome.phrase}"
            if self.show_status:
                process.refresh_from_db()
                line += f" (status {process.status})"
            self.stdout.write(line)
        if failed:
            raise CommandError(f"{failed} of {len(processes)} {self.not_done}", returncode=REFUSED)
