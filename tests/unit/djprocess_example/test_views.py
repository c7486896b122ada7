"""The example web UI's views: login, permissions, CSRF, escaping, the tail's JSON."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client
from django.urls import reverse

from djprocess_example.models import ExampleProcess

pytestmark = pytest.mark.django_db

XSS = "<script>window.__xss = 1</script>"


def url(name: str, *args: Any) -> str:
    return reverse(f"djprocess_example:{name}", args=args)


def user_with(*codenames: str) -> Client:
    user = User.objects.create_user("viewer", password="pw")
    for codename in codenames:
        user.user_permissions.add(Permission.objects.get(codename=codename))
    client = Client()
    client.force_login(user)
    return client


def test_anonymous_users_are_sent_to_log_in(make_process: Callable[..., ExampleProcess]) -> None:
    process = make_process()
    client = Client()
    for target in (
        url("process_list"),
        url("process_detail", process.pk),
        url("log_lines", process.pk),
    ):
        response = client.get(target)
        assert response.status_code == 302
        assert response["Location"] == f"{url('login')}?next={target}"
    response = client.post(url("operate", process.pk, "cancel"))
    assert response.status_code == 302
    assert response["Location"].startswith(url("login"))
    process.refresh_from_db()
    assert process.status == "pending"


def test_login_page_logs_in(django_user_model: Any) -> None:
    django_user_model.objects.create_superuser("demo", password="demo")
    client = Client()
    assert b'name="username"' in client.get(url("login")).content
    response = client.post(url("login"), {"username": "demo", "password": "demo"})
    assert response.status_code == 302
    assert response["Location"] == url("process_list")


def test_list_filters_by_status_and_shows_progress(
    admin_client: Client, make_process: Callable[..., ExampleProcess]
) -> None:
    done = make_process(lines=4)
    done.execute()
    pending = make_process()
    page = admin_client.get(url("process_list")).content.decode()
    assert f'data-pk="{done.pk}"' in page
    assert f'data-pk="{pending.pk}"' in page
    assert '<progress class="progress is-small is-info" value="4" max="4">' in page
    filtered = admin_client.get(url("process_list"), {"status": "pending"}).content.decode()
    assert f'data-pk="{pending.pk}"' in filtered
    assert f'data-pk="{done.pk}"' not in filtered
    # An unknown status is ignored rather than an error.
    assert (
        f'data-pk="{done.pk}"'
        in admin_client.get(url("process_list"), {"status": "x"}).content.decode()
    )


def test_reading_needs_the_view_permission(make_process: Callable[..., ExampleProcess]) -> None:
    process = make_process()
    client = user_with()
    assert client.get(url("process_list")).status_code == 403
    assert client.get(url("process_detail", process.pk)).status_code == 403
    assert client.get(url("log_lines", process.pk)).status_code == 403


def test_buttons_need_the_change_permission_and_post(
    make_process: Callable[..., ExampleProcess],
) -> None:
    process = make_process()
    viewer = user_with("view_exampleprocess")
    page = viewer.get(url("process_detail", process.pk)).content.decode()
    assert 'data-action="cancel" hidden' in page
    assert viewer.post(url("operate", process.pk, "cancel")).status_code == 403
    operator = Client()
    operator.force_login(User.objects.create_superuser("op", password="pw"))
    assert operator.get(url("operate", process.pk, "cancel")).status_code == 405
    assert operator.post(url("operate", process.pk, "explode")).status_code == 404
    page = operator.get(url("process_detail", process.pk)).content.decode()
    assert 'data-action="cancel">' in page
    assert 'data-action="restart" hidden' in page
    response = operator.post(url("operate", process.pk, "cancel"), follow=True)
    assert f"#{process.pk}: cancelled" in response.content.decode()
    process.refresh_from_db()
    assert process.status == "cancelled"
    done = make_process()
    done.execute()
    response = operator.post(url("operate", done.pk, "start"), follow=True)
    assert f"#{done.pk}: already finished" in response.content.decode()


def test_state_changes_are_csrf_protected(make_process: Callable[..., ExampleProcess]) -> None:
    process = make_process()
    client = Client(enforce_csrf_checks=True)
    client.force_login(User.objects.create_superuser("op", password="pw"))
    assert client.post(url("operate", process.pk, "cancel")).status_code == 403
    assert client.post(url("create"), {"preset": "fail"}).status_code == 403
    process.refresh_from_db()
    assert process.status == "pending"


def test_create_from_a_preset(admin_client: Client) -> None:
    response = admin_client.post(url("create"), {"preset": "overrun"})
    process = ExampleProcess.objects.get()
    assert response["Location"] == url("process_detail", process.pk)
    assert (process.kind, process.status, process.timeout.total_seconds()) == (
        "sleep",
        "pending",
        3,
    )
    assert admin_client.post(url("create"), {"preset": "nope"}).status_code == 404
    assert (
        user_with("view_exampleprocess").post(url("create"), {"preset": "fail"}).status_code == 403
    )


def test_messages_tracebacks_and_fields_are_escaped(
    admin_client: Client, make_process: Callable[..., ExampleProcess], custom_run: Any
) -> None:
    def run(self: ExampleProcess) -> None:
        self.log(XSS)
        raise ValueError(XSS)

    process = make_process(kind=custom_run(run))
    process.execute()
    for target in (url("process_detail", process.pk), url("process_list")):
        page = admin_client.get(target).content.decode()
        assert "<script>window" not in page
        assert "&lt;script&gt;window.__xss = 1&lt;/script&gt;" in page
    detail = admin_client.get(url("process_detail", process.pk)).content.decode()
    assert 'data-testid="traceback"' in detail


def test_detail_pages_the_log_and_tails_only_the_last_page(
    admin_client: Client, make_process: Callable[..., ExampleProcess]
) -> None:
    from djprocess.logs import LogEntry

    process = make_process()
    process.log_many([LogEntry(message=f"line {n}") for n in range(1, 251)])
    last = admin_client.get(url("process_detail", process.pk)).content.decode()
    assert "page 3 of 3" in last
    assert "line 250<" in last
    assert "line 200<" not in last
    assert 'data-after="250"' in last
    assert 'data-tail-state="following"' in last
    first = admin_client.get(url("process_detail", process.pk), {"page": "1"}).content.decode()
    assert "line 1<" in first
    assert "line 101<" not in first
    assert "data-tail-url" not in first
    assert 'data-tail-state="off"' in first


def test_tail_json_is_a_cursor(
    admin_client: Client, make_process: Callable[..., ExampleProcess]
) -> None:
    process = make_process(lines=3)
    process.log(XSS)
    data = json.loads(admin_client.get(url("log_lines", process.pk), {"after": "0"}).content)
    assert [line["message"] for line in data["lines"]] == [XSS]
    assert data["state"]["status"] == "pending"
    assert data["state"]["finished"] is False
    assert data["actions"] == ["start", "cancel"]
    assert data["more"] is False
    process.execute()
    data = json.loads(admin_client.get(url("log_lines", process.pk), {"after": "1"}).content)
    assert data["lines"][0]["sequence"] == 2
    assert data["state"]["status"] == "succeeded"
    assert data["state"]["finished"] is True
    assert data["state"]["progress_current"] == data["state"]["progress_total"] == 3
    assert data["actions"] == []
    bad = admin_client.get(url("log_lines", process.pk), {"after": "-1"})
    assert bad.status_code == 400
    assert admin_client.get(url("log_lines", process.pk), {"after": "x"}).status_code == 400
    assert admin_client.get(url("log_lines", 999)).status_code == 404


def test_rerun_button_calls_restart(
    admin_client: Client, make_process: Callable[..., ExampleProcess]
) -> None:
    process = make_process()
    process.cancel()
    page = admin_client.get(url("process_detail", process.pk)).content.decode()
    assert 'data-action="restart">' in page
    response = admin_client.post(url("operate", process.pk, "restart"), follow=True)
    assert f"#{process.pk}: re-run" in response.content.decode()
    process.refresh_from_db()
    assert process.status == "succeeded"  # eager Celery ran it again at once
    response = admin_client.post(url("operate", process.pk, "restart"), follow=True)
    assert f"#{process.pk}: not re-run: succeeded" in response.content.decode()
