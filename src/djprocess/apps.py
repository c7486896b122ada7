from __future__ import annotations

from django.apps import AppConfig

__all__ = ["DjprocessConfig"]


class DjprocessConfig(AppConfig):
    """Registers the djprocess system checks (settings, and log models)."""

    name = "djprocess"
    verbose_name = "djprocess"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.core import checks

        from djprocess.checks import check_models, check_settings
        from djprocess.logs.checks import check_log_models

        checks.register(check_settings)
        checks.register(check_models, checks.Tags.models)
        checks.register(check_log_models, checks.Tags.models)
