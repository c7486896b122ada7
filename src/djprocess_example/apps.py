from __future__ import annotations

from django.apps import AppConfig

__all__ = ["DjprocessExampleConfig"]


class DjprocessExampleConfig(AppConfig):
    name = "djprocess_example"
    verbose_name = "djprocess example"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Connects the e-mail-on-failure receiver (djprocess_example.notifications).
        from djprocess_example import notifications  # noqa: F401
