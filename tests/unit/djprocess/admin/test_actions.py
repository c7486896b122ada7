"""``djprocess.admin.actions``: the start, cancel and re-run actions on the example models,
through the real admin site and test client."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from admin_helpers import CHANGELIST, change_url, operate_url, staff
from django.test import Client
from django.urls import reverse

from djprocess_example.models import ExampleProcess

pytestmark = pytest.mark.django_db


def test_actions_report_per_row(
    admin_client: Client, make_process: Callable[..., ExampleProcess]
) -> None:
    pending = [make_process() for _ in range(3)]
    finished = make_process()
    finished.execute()
    response = admin_client.post(
        reverse(CHANGELIST),
        {"action": "cancel_processes", "_selected_action": [p.pk for p in [*pending, finished]]},
        follow=True,
    )
    assert "Cancel: 3 cancelled, 1 already finished." in response.content.decode()
    assert {p.status for p in ExampleProcess.objects.filter(pk__in=[p.pk for p in pending])} == {
        "cancelled"
    }
    new = make_process()
    response = admin_client.post(
        reverse(CHANGELIST),
        {"action": "start_processes", "_selected_action": [new.pk, finished.pk]},
        follow=True,
    )
    # Celery runs eagerly in the unit tests: start() runs the process at once.
    assert "Start: 1 started, 1 already finished." in response.content.decode()
    new.refresh_from_db()
    assert new.status == "succeeded"


def test_actions_and_buttons_need_the_change_permission(
    make_process: Callable[..., ExampleProcess],
) -> None:
    process = make_process()
    client = staff("view_exampleprocess")
    changelist = client.get(reverse(CHANGELIST)).content.decode()
    assert "cancel_processes" not in changelist
    page = client.get(change_url(process)).content.decode()
    assert "djprocess-operate" not in page
    assert client.post(operate_url(process, "cancel")).status_code == 403
    response = client.post(
        reverse(CHANGELIST), {"action": "cancel_processes", "_selected_action": [process.pk]}
    )
    assert response.status_code in (200, 302)
    process.refresh_from_db()
    assert process.status == "pending"


def test_rerun_action_restarts_failed_processes_and_refuses_the_others(
    admin_client: Client, make_process: Callable[..., ExampleProcess]
) -> None:
    failed = make_process(kind="fail")
    failed.execute()
    succeeded = make_process()
    succeeded.execute()
    page = admin_client.get(change_url(failed)).content.decode()
    assert f'action="{operate_url(failed, "restart")}"' in page
    assert f'action="{operate_url(failed, "cancel")}"' not in page
    response = admin_client.post(
        reverse(CHANGELIST),
        {"action": "restart_processes", "_selected_action": [failed.pk, succeeded.pk]},
        follow=True,
    )
    assert "Re-run: 1 re-run, 1 not re-run: succeeded." in response.content.decode()
    failed.refresh_from_db()
    # Eager Celery: the second run has already happened (and failed again).
    assert (failed.status, failed.attempts) == ("failed", 2)
    assert any("attempt 2" in line.message for line in failed.logs.all())
