"""Example project for djprocess: models, Celery app, settings and the demo."""

from typing import Any

celery_app: Any
try:
    from djprocess_example.celery import app as celery_app
except ImportError:  # pragma: no cover - only in the "without Celery" test session
    celery_app = None

__all__ = ["celery_app"]
