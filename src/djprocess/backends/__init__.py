"""Loading the configured worker backend."""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from django.core.signals import setting_changed
from django.dispatch import receiver
from django.utils.module_loading import import_string

from djprocess.backends.base import BaseWorkerBackend, KillResult, Liveness
from djprocess.conf import settings

__all__ = ["BaseWorkerBackend", "KillResult", "Liveness", "get_backend"]


@cache
def _load(path: str, options: str) -> BaseWorkerBackend:
    backend_class = import_string(path)
    if not (isinstance(backend_class, type) and issubclass(backend_class, BaseWorkerBackend)):
        raise TypeError(f"DJPROCESS_WORKER_BACKEND {path!r} is not a BaseWorkerBackend subclass")
    backend: BaseWorkerBackend = backend_class(**json.loads(options))
    return backend


def get_backend() -> BaseWorkerBackend:
    """Return the backend named by ``DJPROCESS_WORKER_BACKEND``, made with
    ``DJPROCESS_WORKER_BACKEND_OPTIONS`` as keyword arguments (one instance per path and
    options, forgotten when either setting changes).

    Raises :class:`ImportError` or :class:`TypeError` for a bad path or options; the
    system checks ``djprocess.E006``/``E007``/``E017`` report the same at startup.
    """
    return _load(settings.WORKER_BACKEND, _options_key(settings.WORKER_BACKEND_OPTIONS))


def _options_key(options: Any) -> str:
    if not isinstance(options, dict):
        raise TypeError(f"DJPROCESS_WORKER_BACKEND_OPTIONS must be a dict, got {options!r}")
    return json.dumps(options, sort_keys=True, default=repr)


@receiver(setting_changed)
def _forget_backends(setting: str = "", **kwargs: Any) -> None:
    """A changed backend setting (``override_settings``) gives a new backend instance."""
    if setting.startswith("DJPROCESS_"):
        _load.cache_clear()
