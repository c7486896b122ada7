"""The example's process and log models in the Django admin, with djprocess's admin classes."""

from __future__ import annotations

from django.contrib import admin

from djprocess.admin import ProcessAdmin, ProcessLogAdmin
from djprocess_example.models import ExampleProcess, ExampleProcessLog

__all__ = ["ExampleProcessAdmin"]


@admin.register(ExampleProcess)
class ExampleProcessAdmin(ProcessAdmin):
    list_display = (*ProcessAdmin.list_display, "kind")
    list_filter = (*ProcessAdmin.list_filter, "kind")


admin.site.register(ExampleProcessLog, ProcessLogAdmin)
