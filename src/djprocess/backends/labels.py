"""Resolving the model label carried by a task message to a process model.

Task messages carry only ``"app_label.modelname"`` and a primary key. Anything
that is not an installed, concrete :class:`~djprocess.models.BaseProcess`
subclass is refused, so a forged message cannot reach arbitrary code.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.apps import apps

from djprocess.exceptions import UnknownProcessModel

if TYPE_CHECKING:
    from djprocess.models import BaseProcess

__all__ = ["label_of", "resolve"]


def label_of(process: BaseProcess | type[BaseProcess]) -> str:
    """The label a task message carries for ``process``: ``"app_label.modelname"``."""
    return process._meta.label_lower


def resolve(label: object) -> type[BaseProcess]:
    """Return the process model named ``label``.

    Raises :class:`~djprocess.exceptions.UnknownProcessModel` if ``label`` is not a
    string naming an installed, concrete ``BaseProcess`` subclass.
    """
    from djprocess.models import BaseProcess

    if not isinstance(label, str):
        raise UnknownProcessModel(f"process model label must be a string, got {label!r}")
    try:
        model = apps.get_model(label)
    except (LookupError, ValueError) as exc:
        raise UnknownProcessModel(f"no installed model {label!r}: {exc}") from None
    if not issubclass(model, BaseProcess) or model._meta.abstract:
        raise UnknownProcessModel(f"model {label!r} is not a BaseProcess subclass")
    return model
