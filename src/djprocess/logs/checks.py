"""System checks of the log models (ids ``djprocess.W…``), registered with the model checks.

``djprocess.W002``: the log writer is tested on PostgreSQL and SQLite only (see
:doc:`/reference/checks`).

A log model's foreign key to its process gets an index of its own by default, which the
unique ``(process, sequence)`` constraint of :class:`~djprocess.models.BaseProcessLog`
already covers (its first column is the process): every query djprocess makes, and the
cascade when a process is deleted, uses that one. The extra index only costs disk and slows
each insert. The abstract model cannot remove an index that the subclass's field creates, so
the check asks for ``db_index=False`` on that field.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.apps import AppConfig, apps
from django.core.checks import CheckMessage, Warning
from django.db import connections, models, router

__all__ = ["check_log_models"]

#: ``connection.vendor`` of the databases the log writer is tested on.
TESTED_VENDORS = frozenset({"postgresql", "sqlite"})


def redundant_fk_indexes(log_model: type[models.Model]) -> list[str]:
    """Names of ``log_model``'s foreign keys to a process model that have an index of their
    own (``db_index=True``) although a unique constraint starts with them."""
    from djprocess.models import BaseProcess

    leading = {
        constraint.fields[0]
        for constraint in log_model._meta.constraints
        if isinstance(constraint, models.UniqueConstraint) and constraint.fields
    }
    return [
        field.name
        for field in log_model._meta.local_fields
        if isinstance(field, models.ForeignKey)
        and isinstance(field.related_model, type)
        and issubclass(field.related_model, BaseProcess)
        and getattr(field, "db_index", False)
        and field.name in leading
    ]


def check_log_models(
    app_configs: Sequence[AppConfig] | None = None, **kwargs: Any
) -> list[CheckMessage]:
    """``djprocess.W001`` for each log model whose process foreign key has its own index,
    ``djprocess.W002`` for each whose database is neither PostgreSQL nor SQLite."""
    from djprocess.models import BaseProcessLog

    configs = app_configs if app_configs is not None else apps.get_app_configs()
    warnings: list[CheckMessage] = []
    for config in configs:
        for model in config.get_models():
            if not issubclass(model, BaseProcessLog):
                continue
            for name in redundant_fk_indexes(model):
                warnings.append(
                    Warning(
                        f"{model._meta.label}.{name} has an index of its own, which the "
                        f"unique ({name}, sequence) constraint already covers: it only "
                        "slows down log writes and takes disk space.",
                        hint=f"Add db_index=False to the {name} ForeignKey and run makemigrations.",
                        obj=model,
                        id="djprocess.W001",
                    )
                )
            vendor = connections[router.db_for_write(model)].vendor
            if vendor not in TESTED_VENDORS:
                warnings.append(
                    Warning(
                        f"{model._meta.label} is written on a {vendor} database: djprocess's "
                        "log writer is tested on PostgreSQL and SQLite only. Lines logged "
                        "inside transaction.atomic() are then visible to other connections "
                        "only at commit, and logging from threads and forked children is "
                        "not known to work.",
                        hint="Use PostgreSQL (or SQLite) for the process and log models.",
                        obj=model,
                        id="djprocess.W002",
                    )
                )
    return warnings
