"""``ProcessAdmin`` and ``ProcessAdminMixin``: a process model in the Django admin.

Every djprocess-managed field is read-only (they change only by transition); the add form
creates ``pending`` processes only; ``timeout`` is editable while a process is pending. The
change page shows how the run went, the failure traceback and the log in pages, with
start / cancel / re-run buttons (POST, ``change`` permission).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseNotAllowed,
    HttpResponseRedirect,
)
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html

from djprocess import display, operations, status
from djprocess.admin import actions
from djprocess.admin.logs import ProcessLogInline, log_page
from djprocess.models import MANAGED_FIELDS

if TYPE_CHECKING:
    from djprocess.models import BaseProcess

__all__ = ["ProcessAdmin", "ProcessAdminMixin"]

#: Read-only fields and computed columns shown in the "Run" section of the change page.
RUN_FIELDS = (
    "status_badge",
    "progress_display",
    "created",
    "modified",
    "dispatched_at",
    "started_at",
    "finished_at",
    "duration_display",
    "ended_display",
    "stopped_by",
    "stop_signal",
    "termination",
    "attempts",
    "worker_hostname",
    "worker_pid",
    "process_task_id",
    "watchdog_task_id",
)
_NOT_USER_FIELDS = MANAGED_FIELDS | {"created", "modified"}


class ProcessAdminMixin:
    """Put first in the bases of your ``ModelAdmin`` for a ``BaseProcess`` subclass."""

    list_display: Any = (
        "__str__",
        "status_badge",
        "progress_display",
        "timeout",
        "duration_display",
        "started_at",
        "finished_at",
        "ended_display",
    )
    list_filter: ClassVar[Any] = ("status", "stopped_by")
    search_fields: ClassVar[Any] = (
        "exception",
        "termination",
        "worker_hostname",
        "process_task_id",
    )
    date_hierarchy: ClassVar[Any] = None
    ordering: ClassVar[Any] = ("-pk",)
    actions: Any = (
        actions.start_processes,
        actions.cancel_processes,
        actions.restart_processes,
    )
    change_form_template: ClassVar[Any] = "admin/djprocess/process_change_form.html"
    #: Lines per page of the log on the change page.
    log_per_page = 100

    class Media:
        css: ClassVar[dict[str, tuple[str, ...]]] = {"all": ("djprocess/admin.css",)}

    # -- columns -----------------------------------------------------------------

    @admin.display(description="status", ordering="status")
    def status_badge(self, obj: BaseProcess) -> str:
        """The status as a coloured badge (``<span class="djprocess-badge …">``)."""
        return format_html(
            '<span class="djprocess-badge djprocess-{}">{}</span>',
            obj.status,
            obj.get_status_display(),
        )

    @admin.display(description="progress")
    def progress_display(self, obj: BaseProcess) -> str:
        """``"45% (9/20)"``, or empty."""
        return display.format_progress(obj)

    @admin.display(description="duration")
    def duration_display(self, obj: BaseProcess) -> str:
        """Start to finish (to now while running)."""
        return display.format_duration(obj.duration)

    @admin.display(description="how it ended")
    def ended_display(self, obj: BaseProcess) -> str:
        """Who stopped it, how, and the exception's first line."""
        return display.ended_how(obj)

    # -- forms -------------------------------------------------------------------

    def _user_fields(self) -> list[str]:
        model: type[BaseProcess] = self.model  # type: ignore[attr-defined]
        return [
            field.name
            for field in model._meta.fields
            if field.editable and not field.primary_key and field.name not in _NOT_USER_FIELDS
        ]

    def get_fieldsets(self, request: HttpRequest, obj: BaseProcess | None = None) -> Any:
        if obj is None:
            return [(None, {"fields": self._user_fields()})]
        fieldsets: list[Any] = [
            (None, {"fields": self._user_fields()}),
            ("Run", {"fields": RUN_FIELDS}),
        ]
        if obj.exception:
            fieldsets.append(("Failure", {"fields": ("exception",)}))
        return fieldsets

    def get_readonly_fields(self, request: HttpRequest, obj: BaseProcess | None = None) -> Any:
        if obj is None:
            return ()
        fields = [*RUN_FIELDS, "exception"]
        if obj.status != status.PENDING or obj.dispatched_at is not None:
            fields.append("timeout")
        return fields

    def save_model(self, request: HttpRequest, obj: BaseProcess, form: Any, change: bool) -> None:
        if not change:
            # Whatever a form posts, a process is created pending and undispatched.
            obj.status = status.PENDING
        super().save_model(request, obj, form, change)  # type: ignore[misc]

    def get_formset_kwargs(
        self, request: HttpRequest, obj: BaseProcess, inline: Any, prefix: str
    ) -> dict[str, Any]:
        kwargs: dict[str, Any] = super().get_formset_kwargs(  # type: ignore[misc]
            request, obj, inline, prefix
        )
        if isinstance(inline, ProcessLogInline):
            kwargs["queryset"] = inline.bounded_queryset(request, obj)
        return kwargs

    # -- the change page: log pages and buttons ----------------------------------

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        context = dict(extra_context or {})
        obj = self.get_object(request, object_id)  # type: ignore[attr-defined]
        if obj is not None and self.has_view_or_change_permission(request, obj):  # type: ignore[attr-defined]
            page = log_page(obj, request.GET.get("log_page"), self.log_per_page)
            context["djprocess_log_page"] = page
            context["djprocess_process"] = obj
            context["djprocess_buttons"] = self._buttons(request, obj)
        return super().change_view(request, object_id, form_url, context)  # type: ignore[misc, no-any-return]

    def _buttons(self, request: HttpRequest, obj: BaseProcess) -> list[tuple[str, str]]:
        if not self.has_change_permission(request, obj):  # type: ignore[attr-defined]
            return []
        opts = obj._meta
        return [
            (
                actions.LABELS[name],
                reverse(
                    f"{self.admin_site.name}:{opts.app_label}_{opts.model_name}_operate",  # type: ignore[attr-defined]
                    args=[obj.pk, name],
                ),
            )
            for name in operations.offered(obj)
        ]

    def get_urls(self) -> list[URLPattern]:
        opts = self.model._meta  # type: ignore[attr-defined]
        own = [
            path(
                "<path:object_id>/operate/<str:action>/",
                self.admin_site.admin_view(self.operate_view),  # type: ignore[attr-defined]
                name=f"{opts.app_label}_{opts.model_name}_operate",
            )
        ]
        return own + super().get_urls()  # type: ignore[misc, no-any-return]

    def operate_view(self, request: HttpRequest, object_id: str, action: str) -> HttpResponse:
        """POST only: run ``action`` (start, cancel, restart) on one process, report it and
        go back to its change page. 403 without the ``change`` permission."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if action not in operations.ACTIONS:
            raise Http404(f"unknown action {action!r}")
        obj = self.get_object(request, object_id)  # type: ignore[attr-defined]
        if obj is None:
            raise Http404("no such process")
        if not self.has_change_permission(request, obj):  # type: ignore[attr-defined]
            raise PermissionDenied
        tally = operations.apply(action, [obj])
        actions.report(self, request, action, tally)  # type: ignore[arg-type]
        opts = obj._meta
        url = reverse(
            f"{self.admin_site.name}:{opts.app_label}_{opts.model_name}_change",  # type: ignore[attr-defined]
            args=[obj.pk],
        )
        return HttpResponseRedirect(url)


class ProcessAdmin(ProcessAdminMixin, admin.ModelAdmin):  # type: ignore[type-arg]
    """Ready-made admin for a process model: ``admin.site.register(MyProcess, ProcessAdmin)``."""
