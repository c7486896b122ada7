"""Example project for djprocess: models, Celery app, settings and the demo."""

from djprocess_example.celery import app as celery_app

__all__ = ["celery_app"]
