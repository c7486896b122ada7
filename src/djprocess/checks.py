"""System checks for the ``DJPROCESS_*`` settings (ids ``djprocess.E001``…).

Registered by :class:`djprocess.apps.DjprocessConfig`; ``manage.py check`` and
every management command run them, so a bad setting fails at startup.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.apps import AppConfig
from django.conf import settings as django_settings
from django.core.checks import CheckMessage, Error
from django.utils.module_loading import import_string

from djprocess.conf import DEFAULTS


def _value(name: str) -> Any:
    return getattr(django_settings, name, DEFAULTS[name])


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _queue_errors(name: str, check_id: str) -> list[CheckMessage]:
    value = _value(name)
    if not isinstance(value, str) or not value.strip():
        return [
            Error(
                f"{name} must be a non-empty string naming a Celery queue, got {value!r}.",
                hint=f'Set {name} = "{DEFAULTS[name]}" (or another queue name) in your settings.',
                id=check_id,
            )
        ]
    return []


def check_settings(
    app_configs: Sequence[AppConfig] | None = None, **kwargs: Any
) -> list[CheckMessage]:
    """Validate every ``DJPROCESS_*`` setting; return the errors found."""
    errors = _queue_errors("DJPROCESS_PROCESS_QUEUE", "djprocess.E001")
    errors += _queue_errors("DJPROCESS_SUPERVISOR_QUEUE", "djprocess.E002")
    process_queue = _value("DJPROCESS_PROCESS_QUEUE")
    if not errors and process_queue == _value("DJPROCESS_SUPERVISOR_QUEUE"):
        errors.append(
            Error(
                "DJPROCESS_PROCESS_QUEUE and DJPROCESS_SUPERVISOR_QUEUE are both "
                f"{process_queue!r}: a watchdog would wait behind the very process it must stop.",
                hint="Use two queues (defaults: 'processes' and 'supervisor') and "
                "separate workers.",
                id="djprocess.E003",
            )
        )
    retries = _value("DJPROCESS_KILL_TERM_RETRIES")
    if not isinstance(retries, int) or isinstance(retries, bool) or not 0 <= retries <= 100:
        errors.append(
            Error(
                f"DJPROCESS_KILL_TERM_RETRIES must be an integer from 0 to 100, got {retries!r}.",
                hint="Set DJPROCESS_KILL_TERM_RETRIES = 3 (0 sends SIGKILL at once).",
                id="djprocess.E004",
            )
        )
    for name, check_id in (
        ("DJPROCESS_KILL_TERM_WAIT_SECONDS", "djprocess.E005"),
        ("DJPROCESS_CONTROL_TIMEOUT_SECONDS", "djprocess.E008"),
    ):
        value = _value(name)
        if not _is_number(value) or not 0 < value <= 3600:
            errors.append(
                Error(
                    f"{name} must be a number of seconds > 0 and <= 3600, got {value!r}.",
                    hint=f"Set {name} = {DEFAULTS[name]!r}.",
                    id=check_id,
                )
            )
    for name, check_id, low, high in (
        ("DJPROCESS_STATUS_POLL_SECONDS", "djprocess.E012", 0.01, 60),
        ("DJPROCESS_HEARTBEAT_SECONDS", "djprocess.E013", 0.1, 600),
        ("DJPROCESS_SWEEP_SECONDS", "djprocess.E014", 0.05, 600),
        ("DJPROCESS_QUEUE_TIMEOUT_SECONDS", "djprocess.E015", 1, 365 * 86_400),
    ):
        value = _value(name)
        if not _is_number(value) or not low <= value <= high:
            errors.append(
                Error(
                    f"{name} must be a number of seconds from {low:g} to {high:g}, got {value!r}.",
                    hint=f"Set {name} = {DEFAULTS[name]!r}.",
                    id=check_id,
                )
            )
    errors += _backend_errors()
    for name, check_id in (
        ("DJPROCESS_LOG_MAX_PER_PAGE", "djprocess.E009"),
        ("DJPROCESS_LOG_MAX_MESSAGE_LENGTH", "djprocess.E010"),
    ):
        value = _value(name)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            errors.append(
                Error(
                    f"{name} must be an integer >= 1, got {value!r}.",
                    hint=f"Set {name} = {DEFAULTS[name]!r}.",
                    id=check_id,
                )
            )
    capture_level = _value("DJPROCESS_LOG_CAPTURE_LEVEL")
    if capture_level not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
        errors.append(
            Error(
                "DJPROCESS_LOG_CAPTURE_LEVEL must be one of 'DEBUG', 'INFO', 'WARNING', "
                f"'ERROR', 'CRITICAL', got {capture_level!r}.",
                hint='Set DJPROCESS_LOG_CAPTURE_LEVEL = "INFO".',
                id="djprocess.E011",
            )
        )
    return errors


def _backend_errors() -> list[CheckMessage]:
    from djprocess.backends.base import BaseWorkerBackend

    path = _value("DJPROCESS_WORKER_BACKEND")
    try:
        if not isinstance(path, str):
            raise ImportError(f"a dotted path string is needed, not {type(path).__name__}")
        backend_class = import_string(path)
    except Exception as exc:  # noqa: BLE001 - any failure to import is reported, not raised
        return [
            Error(
                f"DJPROCESS_WORKER_BACKEND {path!r} cannot be imported: "
                f"{type(exc).__name__}: {exc}.",
                hint="Use a dotted path to a BaseWorkerBackend subclass, e.g. "
                f"{DEFAULTS['DJPROCESS_WORKER_BACKEND']!r} (needs 'djprocess_celery' installed).",
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
    options = _value("DJPROCESS_WORKER_BACKEND_OPTIONS")
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


#: Settings that only a backend starting runs through an executor reads, and the promise
#: each makes (a run in a sandbox, with no network...).
EXECUTOR_SETTINGS = ("DJPROCESS_SUBPROCESS_EXECUTOR",)
GVISOR_SETTINGS = (
    "DJPROCESS_GVISOR_RUNSC_PATH",
    "DJPROCESS_GVISOR_RUNSC_ROOT",
    "DJPROCESS_GVISOR_NETWORK",
    "DJPROCESS_GVISOR_RUNSC_FLAGS",
    "DJPROCESS_GVISOR_MOUNTS",
)


def _promise_errors(backend: Any) -> list[CheckMessage]:
    """``djprocess.E018``: settings in force that the backend would ignore, so that what
    they promise (a run in a gVisor sandbox) would silently not hold."""
    configured = [name for name in EXECUTOR_SETTINGS if hasattr(django_settings, name)]
    gvisor = [name for name in GVISOR_SETTINGS if hasattr(django_settings, name)]
    if not backend.supports_executor and (configured or gvisor):
        names = ", ".join(configured + gvisor)
        return [
            Error(
                f"{names} set, but DJPROCESS_WORKER_BACKEND "
                f"{_value('DJPROCESS_WORKER_BACKEND')!r} does not start runs through an "
                "executor: they would be ignored and runs would not be sandboxed.",
                hint="Set DJPROCESS_WORKER_BACKEND = "
                "'djprocess_subprocess.backend.SubprocessWorkerBackend', or remove them.",
                id="djprocess.E018",
            )
        ]
    if gvisor and not backend.supports_sandbox:
        return [
            Error(
                f"{', '.join(gvisor)} set, but the subprocess backend's executor is not "
                "the gVisor one: runs would not be sandboxed.",
                hint="Set DJPROCESS_SUBPROCESS_EXECUTOR = "
                "'djprocess_gvisor.executor.GvisorExecutor', or remove them.",
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
