from __future__ import annotations

from django.apps import AppConfig


class DjprocessCeleryConfig(AppConfig):
    """Loads the tasks, the worker remote-control commands and the worker-lost receiver."""

    name = "djprocess_celery"
    verbose_name = "djprocess (Celery backend)"

    def ready(self) -> None:
        # Importing registers: tasks (shared_task), control commands (Panel) and
        # the task_failure receiver. Workers run django.setup() before consuming.
        from djprocess_celery import control, poolchild, receivers, startup, tasks  # noqa: F401
