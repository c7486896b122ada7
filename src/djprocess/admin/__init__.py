"""Django admin for process models: register any ``BaseProcess`` subclass in one line.

::

    from django.contrib import admin
    from djprocess.admin import ProcessAdmin, ProcessLogAdmin

    admin.site.register(ExportProcess, ProcessAdmin)
    admin.site.register(ExportProcessLog, ProcessLogAdmin)  # optional

With your own ``ModelAdmin``, put :class:`ProcessAdminMixin` first in its bases.
"""

from djprocess.admin.logs import (
    ProcessFilter,
    ProcessLogAdmin,
    ProcessLogAdminMixin,
    ProcessLogInline,
)
from djprocess.admin.process import ProcessAdmin, ProcessAdminMixin

__all__ = [
    "ProcessAdmin",
    "ProcessAdminMixin",
    "ProcessFilter",
    "ProcessLogAdmin",
    "ProcessLogAdminMixin",
    "ProcessLogInline",
]
