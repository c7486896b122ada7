from __future__ import annotations

from django.apps import AppConfig

__all__ = ["DjprocessCeleryConfig"]


class DjprocessCeleryConfig(AppConfig):
    """Declares the Celery settings; loads the tasks, the worker remote-control commands
    and the worker-lost receiver."""

    name = "djprocess_celery"
    verbose_name = "djprocess (Celery backend)"

    def ready(self) -> None:
        # Importing registers: the settings (conf: their declarations, which the core's
        # check_settings validates - registering a check of our own would report each
        # error twice), tasks (shared_task), control commands (Panel) and the
        # task_failure receiver. Workers run django.setup() before consuming.
        from djprocess_celery import conf, control, poolchild, receivers, startup, tasks  # noqa: F401
