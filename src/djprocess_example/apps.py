from __future__ import annotations

from django.apps import AppConfig


class DjprocessExampleConfig(AppConfig):
    name = "djprocess_example"
    verbose_name = "djprocess example"
    default_auto_field = "django.db.models.BigAutoField"
