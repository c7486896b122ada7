"""Loading the configured worker backend."""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from django.core.signals import setting_changed
from django.dispatch import receiver
from django.utils.module_loading import import_string

from djprocess.backends.base import BaseWorkerBackend, KillResult, Liveness
from djprocess.conf import constructs_backend, settings

__all__ = ["BaseWorkerBackend", "KillResult", "Liveness", "get_backend"]


@cache
def _load(path: str, options: str) -> BaseWorkerBackend:
    backend_class = import_string(path)
    if not (isinstance(backend_class, type) and issubclass(backend_class, BaseWorkerBackend)):
        raise TypeError(f"DJPROCESS_WORKER_BACKEND {path!r} is not a BaseWorkerBackend subclass")
    try:
        backend: BaseWorkerBackend = backend_class(**json.loads(options))
    except TypeError as exc:
        raise TypeError(f"DJPROCESS_WORKER_BACKEND_OPTIONS {options} for {path!r}: {exc}") from exc
    return backend


def get_backend() -> BaseWorkerBackend:
    """Return the backend named by ``DJPROCESS_WORKER_BACKEND``, made with
    ``DJPROCESS_WORKER_BACKEND_OPTIONS`` as keyword arguments (one instance per path and
    options; made again when a setting declared with ``constructs_backend=True`` changes,
    see :class:`djprocess.conf.Setting`).

    Raises :class:`ImportError` or :class:`TypeError` for a bad path or options; the
    system checks ``djprocess.E006``/``E007``/``E017`` report the same at startup.
    """
    return _load(settings.WORKER_BACKEND, _options_key(settings.WORKER_BACKEND_OPTIONS))


def _options_key(options: dict[str, Any]) -> str:
    # The setting reads anything but a dict as {} (check djprocess.E017 reports it).
    return json.dumps(options, sort_keys=True, default=repr)


@receiver(setting_changed)
def _forget_backends(setting: str = "", **kwargs: Any) -> None:
    """A changed setting that backends are made from (``override_settings``) gives new
    backend instances; switching ``DJPROCESS_WORKER_BACKEND`` back and forth keeps one
    instance per path."""
    # Each backend package declares its own such settings: the core names none of theirs.
    if constructs_backend(setting):
        _load.cache_clear()
