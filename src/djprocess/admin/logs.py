"""Log lines in the admin: the change page's log pages, the inline, and a log model's admin.

The log on a process's change page is read with
:meth:`~djprocess.models.BaseProcess.paginate_logs`: two index lookups whatever the page and
the log's size (no ``COUNT(*)``, no ``OFFSET``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.core.exceptions import ValidationError
from django.core.paginator import EmptyPage, Page, PageNotAnInteger
from django.db.models import QuerySet
from django.http import HttpRequest

if TYPE_CHECKING:
    from djprocess.models import BaseProcess

__all__ = [
    "ProcessFilter",
    "ProcessLogAdmin",
    "ProcessLogAdminMixin",
    "ProcessLogInline",
    "log_page",
]

#: Lines per page of the change page's log.
LOG_PER_PAGE = 100


def log_page(process: BaseProcess, number: str | None, per_page: int = LOG_PER_PAGE) -> Page[Any]:
    """Page ``number`` (a 1-based number as text, ``"last"`` or None for the last page) of
    ``process``'s log; a number out of range or not a number gives the last page."""
    try:
        return process.paginate_logs(number or "last", per_page)
    except (EmptyPage, PageNotAnInteger):
        return process.paginate_logs("last", per_page)


class ProcessLogInline(admin.TabularInline):  # type: ignore[type-arg]
    """Read-only inline of the **last** :attr:`max_lines` lines of a process's log.

    Kept from djprocess 0.0.1; set ``model`` to your log model. For the whole log use the
    paged log of :class:`~djprocess.admin.ProcessAdmin`'s change page, which this inline
    duplicates.
    """

    fields = ("sequence", "level", "message", "created")
    readonly_fields = fields
    ordering = ("sequence",)
    extra = 0
    can_delete = False
    #: How many of the newest lines the inline shows (it never loads a whole log).
    max_lines = 50

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def bounded_queryset(self, request: HttpRequest, process: BaseProcess | None) -> QuerySet[Any]:
        """The inline's lines for ``process``: the last :attr:`max_lines`, by sequence range."""
        queryset = self.get_queryset(request)
        if process is None or process.pk is None:
            return queryset.none()
        return queryset.filter(sequence__gt=process.log_count() - self.max_lines)


class ProcessFilter(admin.SimpleListFilter):
    """Filter log lines by process (``?process=<pk>``) without listing every process:
    offers the selected process and the 20 newest."""

    title = "process"
    parameter_name = "process"

    def _selected_pk(self, model: type[Any]) -> Any:
        """The selected process's primary key, converted; raises
        ``IncorrectLookupParameters`` (the admin shows its "?e=1" page) if it is not one."""
        value = self.value()
        if not value:
            return None
        try:
            return model._meta.get_field("process").target_field.to_python(value)
        except ValidationError as exc:
            raise IncorrectLookupParameters(exc) from None

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        process_model = model_admin.model._meta.get_field("process").related_model
        newest = list(process_model._default_manager.order_by("-pk")[:20])
        selected = self._selected_pk(model_admin.model)
        if selected is not None and selected not in {p.pk for p in newest}:
            newest.extend(process_model._default_manager.filter(pk=selected)[:1])
        return [(str(p.pk), str(p)) for p in newest]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        selected = self._selected_pk(queryset.model)
        if selected is None:
            return queryset
        return queryset.filter(process_id=selected)


class ProcessLogAdminMixin:
    """For a ``BaseProcessLog`` subclass's own admin: process column, filter by process and
    level, search in messages; read-only (lines are written by djprocess only)."""

    list_display: Any = ("process", "sequence", "level", "short_message", "created")
    list_filter: ClassVar[Any] = (ProcessFilter, "level")
    search_fields: ClassVar[Any] = ("message",)
    ordering: ClassVar[Any] = ("process", "sequence")
    readonly_fields: ClassVar[Any] = ("process", "sequence", "level", "message", "extra", "created")
    list_select_related: ClassVar[Any] = ("process",)
    #: Lists of millions of lines: do not count the unfiltered table.
    show_full_result_count = False

    @admin.display(description="message")
    def short_message(self, obj: Any) -> str:
        """The message's first line, cut at 200 characters (escaped by the admin)."""
        text: str = obj.message
        first = text.splitlines()[0] if text else ""
        return first if len(first) <= 200 else first[:199] + "…"

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ProcessLogAdmin(ProcessLogAdminMixin, admin.ModelAdmin):  # type: ignore[type-arg]
    """Ready-made admin for a log model: ``admin.site.register(MyLog, ProcessLogAdmin)``."""
