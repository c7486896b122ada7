"""The admin actions (start, cancel, re-run) and the buttons of the change page.

Each needs the model's ``change`` permission. The result is one message per action,
counting what happened to each selected row: ``"3 cancelled, 1 already finished"``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from djprocess import operations

if TYPE_CHECKING:
    from djprocess.models import BaseProcess

__all__ = ["cancel_processes", "report", "restart_processes", "start_processes"]

#: Verb shown for each action, in buttons and in the action menu.
LABELS = {"start": "Start", "cancel": "Cancel", "restart": "Re-run"}


def report(
    modeladmin: admin.ModelAdmin[Any], request: HttpRequest, action: str, tally: operations.Tally
) -> None:
    """One admin message for ``tally``: success if every row was done, an error if any row
    ended in an error, a warning otherwise."""
    if tally.errors:
        level = messages.ERROR
    elif tally.done == tally.total:
        level = messages.SUCCESS
    else:
        level = messages.WARNING
    modeladmin.message_user(request, f"{LABELS[action]}: {tally.summary()}.", level)


def _run(
    modeladmin: admin.ModelAdmin[Any],
    request: HttpRequest,
    action: str,
    queryset: QuerySet[Any],
) -> None:
    processes: list[BaseProcess] = list(queryset.order_by("pk"))
    report(modeladmin, request, action, operations.apply(action, processes))


@admin.action(description="Start selected pending processes", permissions=["change"])
def start_processes(
    modeladmin: admin.ModelAdmin[Any], request: HttpRequest, queryset: QuerySet[Any]
) -> None:
    """Admin action: ``start()`` each selected process."""
    _run(modeladmin, request, "start", queryset)


@admin.action(description="Cancel selected processes", permissions=["change"])
def cancel_processes(
    modeladmin: admin.ModelAdmin[Any], request: HttpRequest, queryset: QuerySet[Any]
) -> None:
    """Admin action: ``cancel()`` each selected process (waits for running ones to stop)."""
    _run(modeladmin, request, "cancel", queryset)


@admin.action(
    description="Re-run selected failed, timed-out or cancelled processes", permissions=["change"]
)
def restart_processes(
    modeladmin: admin.ModelAdmin[Any], request: HttpRequest, queryset: QuerySet[Any]
) -> None:
    """Admin action: ``restart()`` each selected process."""
    _run(modeladmin, request, "restart", queryset)
