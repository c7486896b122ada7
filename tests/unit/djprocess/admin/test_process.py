"""``djprocess.admin.process``: the process admin on the example models (changelist, change
and add pages, the operate buttons), through the real admin site and test client."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from admin_helpers import CHANGELIST, change_url, operate_url
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from djprocess_example.models import ExampleProcess

pytestmark = pytest.mark.django_db

XSS = "<script>window.__xss = 1</script>"


def test_changelist_shows_status_badge_progress_duration_and_how_it_ended(
    admin_client: Client, make_process: Callable[..., ExampleProcess]
) -> None:
    done = make_process(lines=4)
    done.execute()
    failed = make_process(kind="fail")
    failed.execute()
    page = admin_client.get(reverse(CHANGELIST)).content.decode()
    assert '<span class="djprocess-badge djprocess-succeeded">Succeeded</span>' in page
    assert "100% (4/4)" in page
    assert "RuntimeError: example failure" in page
    assert "How it ended" in page
    filtered = admin_client.get(reverse(CHANGELIST), {"status__exact": "failed"}).content.decode()
    assert f"ExampleProcess #{failed.pk} (failed)" in filtered
    assert f"ExampleProcess #{done.pk} (succeeded)" not in filtered


def test_search_finds_the_exception(
    admin_client: Client, make_process: Callable[..., ExampleProcess]
) -> None:
    failed = make_process(kind="fail")
    failed.execute()
    other = make_process()
    page = admin_client.get(reverse(CHANGELIST), {"q": "example failure"}).content.decode()
    assert f"ExampleProcess #{failed.pk} " in page
    assert f"ExampleProcess #{other.pk} " not in page


def test_managed_fields_are_read_only_and_posting_them_changes_nothing(
    admin_client: Client, make_process: Callable[..., ExampleProcess]
) -> None:
    process = make_process(lines=2)
    process.execute()
    page = admin_client.get(change_url(process)).content.decode()
    assert 'name="status"' not in page
    assert 'name="timeout"' not in page  # not pending any more
    assert 'name="kind"' in page
    response = admin_client.post(
        change_url(process),
        {"kind": "sleep", "seconds": "2", "lines": "3", "status": "pending", "timeout": "0:00:01"},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    process.refresh_from_db()
    assert (process.kind, process.status) == ("sleep", "succeeded")
    assert process.timeout.total_seconds() == 60 * 20


def test_add_form_creates_pending_processes_whatever_is_posted(admin_client: Client) -> None:
    add = reverse("admin:djprocess_example_exampleprocess_add")
    page = admin_client.get(add).content.decode()
    assert 'name="status"' not in page
    assert 'name="timeout"' in page
    response = admin_client.post(
        add,
        {
            "kind": "succeed",
            "seconds": "1",
            "lines": "3",
            "timeout": "0:05:00",
            "status": "succeeded",
            "finished_at": "2020-01-01",
        },
    )
    assert response.status_code == 302
    process = ExampleProcess.objects.get()
    assert process.status == "pending"
    assert process.finished_at is None
    assert process.timeout.total_seconds() == 300


def test_log_level_time_traceback_and_messages_are_escaped(
    admin_client: Client, make_process: Callable[..., ExampleProcess], custom_run: Any
) -> None:
    def run(self: ExampleProcess) -> None:
        self.log(XSS, level="WARNING")
        raise ValueError(XSS)

    process = make_process(kind=custom_run(run))
    process.execute()
    page = admin_client.get(change_url(process)).content.decode()
    assert XSS not in page
    changelist = admin_client.get(reverse(CHANGELIST)).content.decode()
    assert "<script>window" not in changelist
    assert "ValueError: &lt;script&gt;window.__xss = 1&lt;/script&gt;" in changelist
    assert "&lt;script&gt;window.__xss = 1&lt;/script&gt;" in page
    assert '<tr class="djprocess-level-warning">' in page
    assert "<h2>Traceback</h2>" in page
    assert "Traceback (most recent call last)" in page


def test_change_page_buttons_post_and_report(
    admin_client: Client, make_process: Callable[..., ExampleProcess]
) -> None:
    process = make_process()
    page = admin_client.get(change_url(process)).content.decode()
    assert f'action="{operate_url(process, "start")}"' in page
    assert f'action="{operate_url(process, "cancel")}"' in page
    assert admin_client.get(operate_url(process, "cancel")).status_code == 405
    response = admin_client.post(operate_url(process, "cancel"), follow=True)
    assert "Cancel: 1 cancelled." in response.content.decode()
    process.refresh_from_db()
    assert process.status == "cancelled"
    assert admin_client.post(operate_url(process, "explode")).status_code == 404


def test_operate_button_is_csrf_protected(make_process: Callable[..., ExampleProcess]) -> None:
    process = make_process()
    client = Client(enforce_csrf_checks=True)
    client.force_login(User.objects.create_superuser("root", password="pw"))
    assert client.post(operate_url(process, "cancel")).status_code == 403
    process.refresh_from_db()
    assert process.status == "pending"


def test_operating_on_a_process_that_does_not_exist_is_a_404(admin_client: Client) -> None:
    missing = reverse("admin:djprocess_example_exampleprocess_operate", args=[999_999, "cancel"])
    assert admin_client.post(missing).status_code == 404
