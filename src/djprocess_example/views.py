"""The example web UI: process list, process detail with its log in pages and a live tail,
and start / cancel / re-run buttons.

Plain Django views and templates with Bulma (served from this app's static files). Reading
needs the model's ``view`` permission, creating ``add``, and start / cancel / re-run its
``change`` permission; anonymous users are sent to the login page. State changes are POST
only (CSRF-checked). The tail polls :meth:`~djprocess.models.BaseProcess.logs_after`
through :func:`log_lines` (JSON).
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from djprocess import display, operations
from djprocess.admin.logs import log_page
from djprocess_example.models import ExampleProcess
from djprocess_example.presets import PRESETS

__all__ = ["create", "log_lines", "operate", "process_detail", "process_list", "state"]

#: Lines per page of the detail page's log; the most lines one tail request returns.
PER_PAGE = 100
TAIL_LIMIT = 500
#: Processes per page of the list.
LIST_PER_PAGE = 25
#: Button label of each action.
LABELS = {"start": "Start", "cancel": "Cancel", "restart": "Re-run"}


def _require(request: HttpRequest, action: str) -> None:
    """Raise ``PermissionDenied`` unless the user has ``<action>_exampleprocess``."""
    opts = ExampleProcess._meta
    if not request.user.has_perm(f"{opts.app_label}.{action}_{opts.model_name}"):
        raise PermissionDenied


def allowed_actions(request: HttpRequest, process: ExampleProcess) -> list[str]:
    """The actions that make sense for ``process`` now and that the user may do."""
    opts = ExampleProcess._meta
    if not request.user.has_perm(f"{opts.app_label}.change_{opts.model_name}"):
        return []
    return operations.offered(process)


def state(process: ExampleProcess) -> dict[str, Any]:
    """What the page shows of a process and the tail refreshes (JSON-serialisable)."""
    return {
        "status": process.status,
        "status_display": process.get_status_display(),
        "status_class": display.STATUS_COLOURS.get(process.status, ""),
        "finished": process.is_finished,
        "progress_current": process.progress_current,
        "progress_total": process.progress_total,
        "progress_text": display.format_progress(process),
        "duration": display.format_duration(process.duration),
        "started": process.started_at.strftime("%Y-%m-%d %H:%M:%S") if process.started_at else "",
        "ended": display.ended_how(process),
    }


@login_required
@require_GET
def process_list(request: HttpRequest) -> HttpResponse:
    """``GET /?status=<status>&page=<n>``: the processes, newest first."""
    _require(request, "view")
    queryset = ExampleProcess.objects.order_by("-pk")
    selected = request.GET.get("status", "")
    if selected in dict(ExampleProcess.STATUS):
        queryset = queryset.filter(status=selected)
    else:
        selected = ""
    page = Paginator(queryset, LIST_PER_PAGE).get_page(request.GET.get("page"))
    rows = [(process, state(process)) for process in page]
    context = {
        "page": page,
        "rows": rows,
        "statuses": list(ExampleProcess.STATUS),
        "selected_status": selected,
        "presets": PRESETS,
        "can_add": request.user.has_perm("djprocess_example.add_exampleprocess"),
    }
    return render(request, "djprocess_example/process_list.html", context)


@login_required
@require_GET
def process_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """``GET /processes/<pk>/?page=<n|last>``: one process, a page of its log (the last by
    default), and on the last page a live tail while it runs."""
    _require(request, "view")
    process = get_object_or_404(ExampleProcess, pk=pk)
    page = log_page(process, request.GET.get("page"), PER_PAGE)
    last_seen = page.object_list[-1].sequence if page.object_list else (page.number - 1) * PER_PAGE
    actions_now = allowed_actions(request, process)
    context = {
        "process": process,
        "state": state(process),
        "page": page,
        "tail": not page.has_next(),
        "after": last_seen,
        "buttons": [(name, label, name in actions_now) for name, label in LABELS.items()],
    }
    return render(request, "djprocess_example/process_detail.html", context)


@login_required
@require_GET
def log_lines(request: HttpRequest, pk: int) -> JsonResponse:
    """``GET /processes/<pk>/logs/?after=<sequence>``: the tail's JSON.

    ``{"lines": [{"sequence", "level", "created", "message"}, …], "state": {…},
    "actions": […], "more": bool}``: at most :data:`TAIL_LIMIT` lines after ``after``
    (one bounded query), the process's state, and whether more lines are waiting. 400 for
    an ``after`` that is not an integer ``>= 0``."""
    _require(request, "view")
    process = get_object_or_404(ExampleProcess, pk=pk)
    try:
        after = int(request.GET.get("after", "0"))
        lines = process.logs_after(after, TAIL_LIMIT)
    except ValueError:
        return JsonResponse({"error": "after must be an integer >= 0"}, status=400)
    return JsonResponse(
        {
            "lines": [
                {
                    "sequence": line.sequence,
                    "level": line.level,
                    "created": line.created.strftime("%Y-%m-%d %H:%M:%S.%f")[:23],
                    "message": line.message,
                }
                for line in lines
            ],
            "state": state(process),
            "actions": allowed_actions(request, process),
            "more": len(lines) == TAIL_LIMIT,
        }
    )


@login_required
@require_POST
def operate(request: HttpRequest, pk: int, action: str) -> HttpResponse:
    """``POST /processes/<pk>/<start|cancel|restart>/``: do it, say what happened, go back
    to the process. Needs the ``change`` permission."""
    if action not in operations.ACTIONS:
        raise Http404(f"unknown action {action!r}")
    _require(request, "change")
    process = get_object_or_404(ExampleProcess, pk=pk)
    outcome = operations.FUNCTIONS[action](process)
    level = messages.SUCCESS if outcome.done else messages.WARNING
    messages.add_message(request, level, f"#{process.pk}: {outcome.phrase}")
    return HttpResponseRedirect(reverse("djprocess_example:process_detail", args=[process.pk]))


@login_required
@require_POST
def create(request: HttpRequest) -> HttpResponse:
    """``POST /processes/new/`` with ``preset=<name>``: create a pending example process.
    Needs the ``add`` permission."""
    _require(request, "add")
    preset = PRESETS.get(request.POST.get("preset", ""))
    if preset is None:
        raise Http404("unknown preset")
    process = preset.create()
    messages.success(request, f"#{process.pk} created: {preset.title}")
    return HttpResponseRedirect(reverse("djprocess_example:process_detail", args=[process.pk]))
