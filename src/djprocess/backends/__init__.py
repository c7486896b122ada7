"""Loading the configured worker backend."""

from __future__ import annotations

from functools import cache

from django.utils.module_loading import import_string

from djprocess.backends.base import BaseWorkerBackend, KillResult, Liveness
from djprocess.conf import settings

__all__ = ["BaseWorkerBackend", "KillResult", "Liveness", "get_backend"]


@cache
def _load(path: str) -> BaseWorkerBackend:
    backend_class = import_string(path)
    if not (isinstance(backend_class, type) and issubclass(backend_class, BaseWorkerBackend)):
        raise TypeError(f"DJPROCESS_WORKER_BACKEND {path!r} is not a BaseWorkerBackend subclass")
    return backend_class()


def get_backend() -> BaseWorkerBackend:
    """Return the backend named by ``DJPROCESS_WORKER_BACKEND`` (one instance per path).

    Raises :class:`ImportError` or :class:`TypeError` for a bad path; the system
    checks ``djprocess.E006``/``E007`` report the same at startup.
    """
    return _load(settings.WORKER_BACKEND)
