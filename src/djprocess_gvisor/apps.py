from django.apps import AppConfig

__all__ = ["DjprocessGvisorConfig"]


class DjprocessGvisorConfig(AppConfig):
    """Optional in ``INSTALLED_APPS`` (djprocess 0.0.1 asked for it); nothing depends on it."""

    name = "djprocess_gvisor"
    default_auto_field = "django.db.models.BigAutoField"
    verbose_name = "djprocess gVisor executor"
