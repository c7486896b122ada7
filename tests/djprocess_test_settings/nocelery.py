"""Unit-test settings without Celery installed: SQLite and the immediate backend."""

from __future__ import annotations

from djprocess_test_settings.sqlite import *  # noqa: F403
from djprocess_test_settings.sqlite import INSTALLED_APPS as _APPS

INSTALLED_APPS = [app for app in _APPS if app != "djprocess_celery"]
DJPROCESS_WORKER_BACKEND = "djprocess.backends.immediate.ImmediateBackend"
