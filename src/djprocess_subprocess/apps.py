from django.apps import AppConfig

__all__ = ["DjprocessSubprocessConfig"]


class DjprocessSubprocessConfig(AppConfig):
    """Optional in ``INSTALLED_APPS``: it registers the task names djprocess 0.0.1 queued
    (``djprocess_subprocess.run_process``), so messages left in a queue still run."""

    name = "djprocess_subprocess"
    default_auto_field = "django.db.models.BigAutoField"
    verbose_name = "djprocess subprocess backend"
