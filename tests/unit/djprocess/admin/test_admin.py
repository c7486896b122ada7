"""djprocess.admin on the example models, through the real admin site and test client."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import Permission, User
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from djprocess.admin import ProcessLogInline
from djprocess.admin.logs import ProcessFilter
from djprocess.logs import LogEntry
from djprocess_example.models import ExampleProcess, ExampleProcessLog

pytestmark = pytest.mark.django_db

CHANGELIST = "admin:djprocess_example_exampleprocess_changelist"
XSS = "<script>window.__xss = 1</script>"


def change_url(process: ExampleProcess) -> str:
    return reverse("admin:djprocess_example_exampleprocess_change", args=[process.pk])


def operate_url(process: ExampleProcess, action: str) -> str:
    return reverse("admin:djprocess_example_exampleprocess_operate", args=[process.pk, action])


def staff(*codenames: str) -> Client:
    """A client logged in as a staff user with only these exampleprocess permissions."""
    user = User.objects.create_user("operator", password="pw", is_staff=True)
    for codename in codenames:
        user.user_permissions.add(Permission.objects.get(codename=codename))
    client = Client()
    client.force_login(user)
    return client


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


def _queries_of(client: Client, url: str) -> list[str]:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200
    return [query["sql"] for query in captured.captured_queries]


def test_change_page_log_costs_the_same_for_100000_lines_as_for_10_without_count_or_offset(
    admin_client: Client, make_process: Callable[..., ExampleProcess]
) -> None:
    small = make_process()
    small.log_many([LogEntry(message=f"small {n}") for n in range(10)])
    big = make_process()
    big.log_many([LogEntry(message=f"line {n}") for n in range(100_000)])
    small_queries = _queries_of(admin_client, change_url(small))
    big_queries = _queries_of(admin_client, change_url(big))
    assert len(big_queries) == len(small_queries) <= 12, big_queries
    for sql in big_queries:
        assert "COUNT(" not in sql.upper(), sql
        assert "OFFSET" not in sql.upper(), sql
    page = admin_client.get(change_url(big)).content.decode()
    assert "Log: 100000 lines, page 1000 of 1000" in page
    assert "line 99999" in page
    assert "line 99899" not in page
    first = admin_client.get(change_url(big), {"log_page": "1"}).content.decode()
    assert "line 0<" in first
    assert "line 100<" not in first
    deep = _queries_of(admin_client, change_url(big) + "?log_page=500")
    assert len(deep) == len(big_queries)
    # A page number out of range or not a number shows the last page.
    assert (
        "page 1000 of 1000" in admin_client.get(change_url(big), {"log_page": "x"}).content.decode()
    )


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


def test_log_model_admin_shows_the_process_column_and_filters_by_process(
    admin_client: Client, make_process: Callable[..., ExampleProcess]
) -> None:
    one, two = make_process(), make_process()
    one.log("from one")
    two.log("from two")
    url = reverse("admin:djprocess_example_exampleprocesslog_changelist")
    page = admin_client.get(url).content.decode()
    assert "column-process" in page
    assert "from one" in page
    assert "from two" in page
    filtered = admin_client.get(url, {"process": str(one.pk)}).content.decode()
    bad = admin_client.get(url, {"process": "abc"})
    assert bad.status_code == 302
    assert bad["Location"].endswith("?e=1")
    assert "from one" in filtered
    assert "from two" not in filtered
    assert (
        admin_client.get(reverse("admin:djprocess_example_exampleprocesslog_add")).status_code
        == 403
    )


def test_log_inline_shows_only_the_newest_lines(
    rf: Any, admin_user: User, make_process: Callable[..., ExampleProcess]
) -> None:
    from django.contrib import admin

    class Inline(ProcessLogInline):
        model = ExampleProcessLog

    process = make_process()
    process.log_many([LogEntry(message=f"n{n}") for n in range(120)])
    request = rf.get("/")
    request.user = admin_user
    inline = Inline(ExampleProcess, admin.site)
    lines = list(inline.bounded_queryset(request, process).filter(process=process))
    assert [line.sequence for line in lines] == list(range(71, 121))


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


def test_an_admin_with_the_log_inline_shows_the_newest_lines_read_only(
    rf: Any, admin_user: User, make_process: Callable[..., ExampleProcess]
) -> None:
    from django.contrib import admin

    from djprocess.admin import ProcessAdmin

    class Inline(ProcessLogInline):
        model = ExampleProcessLog
        max_lines = 5

    class WithInline(ProcessAdmin):
        inlines = (Inline,)

    model_admin = WithInline(ExampleProcess, admin.site)
    process = make_process()
    process.log_many([LogEntry(message=f"n{n}") for n in range(8)])
    request = rf.get("/")
    request.user = admin_user

    change = model_admin.change_view(request, str(process.pk))
    (inline,) = change.context_data["inline_admin_formsets"]
    assert [form.instance.sequence for form in inline.formset.forms] == [4, 5, 6, 7, 8]
    # Lines are never added, edited or deleted through the inline, even by a superuser.
    assert not inline.has_add_permission
    assert not inline.has_change_permission
    assert not inline.has_delete_permission

    add = model_admin.add_view(request)
    (inline,) = add.context_data["inline_admin_formsets"]
    assert list(inline.formset.forms) == []


def test_the_process_filter_offers_an_old_selected_process_besides_the_20_newest(
    admin_client: Client, make_process: Callable[..., ExampleProcess]
) -> None:
    old = make_process()
    old.log("from the old one")
    newer = [make_process() for _ in range(20)]
    url = reverse("admin:djprocess_example_exampleprocesslog_changelist")

    unfiltered = admin_client.get(url).context["cl"]
    (choices,) = [f for f in unfiltered.filter_specs if isinstance(f, ProcessFilter)]
    offered = [value for value, _ in choices.lookup_choices]
    assert offered == [str(p.pk) for p in reversed(newer)]

    filtered = admin_client.get(url, {"process": str(old.pk)})
    specs = filtered.context["cl"].filter_specs
    (choices,) = [f for f in specs if isinstance(f, ProcessFilter)]
    assert [value for value, _ in choices.lookup_choices][-1] == str(old.pk)
    assert "from the old one" in filtered.content.decode()


def test_operating_on_a_process_that_does_not_exist_is_a_404(admin_client: Client) -> None:
    missing = reverse("admin:djprocess_example_exampleprocess_operate", args=[999_999, "cancel"])
    assert admin_client.post(missing).status_code == 404
