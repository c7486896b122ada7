"""The example's Celery app (``celery -A djprocess_example.celery worker …``)."""

from __future__ import annotations

import os

from celery import Celery

__all__ = ["app"]

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "djprocess_example.settings")

app = Celery("djprocess_example")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
