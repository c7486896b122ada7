"""System checks for the ``DJPROCESS_*`` settings (ids ``djprocess.E001``…).

Registered by :class:`djprocess.apps.DjprocessConfig`; ``manage.py check`` and
every management command run them, so a bad setting fails at startup.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.apps import AppConfig
from django.core.checks import CheckMessage, Error
from django.utils.module_loading import import_string

from djprocess.conf import Requirement, Settings, declared, settings, settings_checks

__all__ = ["check_models", "check_settings"]


def check_settings(
    app_configs: Sequence[AppConfig] | None = None, **kwargs: Any
) -> list[CheckMessage]:
    """Validate every declared ``DJPROCESS_*`` setting (the core's and the backend
    packages', :func:`djprocess.conf.declared`); return the errors found.

    Order: each setting's own check, by check id; then the checks over several settings
    (e.g. ``djprocess.E003``); then the configured backend's (``E006``, ``E007``, ``E017``,
    ``E018`` and the backend class's ``check()``).
    """
    errors: list[CheckMessage] = []
    for declaration in sorted(declared(), key=lambda found: found.check_id or ""):
        errors += declaration.errors()
    for check in settings_checks():
        errors += check()
    errors += _backend_errors()
    return errors


def _backend_errors() -> list[CheckMessage]:
    from djprocess.backends.base import BaseWorkerBackend

    path = Settings.WORKER_BACKEND.raw()
    try:
        if not isinstance(path, str):
            raise ImportError(f"a dotted path string is needed, not {type(path).__name__}")
        backend_class = import_string(path)
    except Exception as exc:  # noqa: BLE001 - any failure to import is reported, not raised
        return [
            Error(
                f"DJPROCESS_WORKER_BACKEND {path!r} cannot be imported: "
                f"{type(exc).__name__}: {exc}.",
                hint="Use a dotted path to a BaseWorkerBackend subclass, e.g. the default "
                f"{Settings.WORKER_BACKEND.default!r}, and install the package it is in.",
                id="djprocess.E006",
            )
        ]
    if not (isinstance(backend_class, type) and issubclass(backend_class, BaseWorkerBackend)):
        return [
            Error(
                f"DJPROCESS_WORKER_BACKEND {path!r} is not a subclass of "
                "djprocess.backends.base.BaseWorkerBackend.",
                hint="Point it at a class deriving from BaseWorkerBackend.",
                id="djprocess.E007",
            )
        ]
    options = Settings.WORKER_BACKEND_OPTIONS.raw()
    try:
        if not isinstance(options, dict):
            raise TypeError(f"a dict of keyword arguments is needed, not {options!r}")
        backend = backend_class(**options)
    except Exception as exc:  # noqa: BLE001 - reported, not raised
        return [
            Error(
                f"DJPROCESS_WORKER_BACKEND {path!r} cannot be made with "
                f"DJPROCESS_WORKER_BACKEND_OPTIONS {options!r}: {type(exc).__name__}: {exc}.",
                hint="Give only the options the backend documents (a dict), or {}.",
                id="djprocess.E017",
            )
        ]
    return [*_promise_errors(backend), *backend_class.check()]


def _promise_errors(backend: Any) -> list[CheckMessage]:
    """``djprocess.E018``: settings in force that the backend would ignore, so that what
    they promise (a run in a sandbox...) would silently not hold.

    Each declared setting names what it needs of the backend (``Setting.requires``); the
    first need the backend lacks is reported, naming every setting in force that has it.
    """
    in_force = [
        declaration for declaration in declared() if declaration.requires and declaration.is_set()
    ]
    needs: list[Requirement] = []
    for declaration in in_force:
        needs += [need for need in declaration.requires if need not in needs]
    for need in needs:
        if getattr(backend, need.capability, False):
            continue
        names = ", ".join(found.name for found in in_force if need in found.requires)
        return [
            Error(
                f"{names} set, but DJPROCESS_WORKER_BACKEND "
                f"{settings.WORKER_BACKEND!r} {need.problem}.",
                hint=need.hint,
                id="djprocess.E018",
            )
        ]
    return []


def check_models(
    app_configs: Sequence[AppConfig] | None = None, **kwargs: Any
) -> list[CheckMessage]:
    """Every concrete ``BaseProcess`` subclass needs a log model (``djprocess.E016``):
    without one, a run could not write a line, and would fail at once."""
    from django.apps import apps

    from djprocess.models import BaseProcess

    configs = app_configs if app_configs is not None else apps.get_app_configs()
    found = [
        model
        for config in configs
        for model in config.get_models()
        if issubclass(model, BaseProcess) and not model._meta.proxy
    ]
    return log_model_errors(found)


def log_model_errors(process_models: Sequence[type[Any]]) -> list[CheckMessage]:
    """``djprocess.E016`` for each of ``process_models`` that has no log model."""
    errors: list[CheckMessage] = []
    for model in process_models:
        try:
            model.log_model()
        except LookupError as exc:
            errors.append(Error(str(exc), obj=model, id="djprocess.E016"))
    return errors
