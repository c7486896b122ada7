"""``djprocess.admin.logs``: the log on the change page, the log inline, the log model admin
and its process filter, through the real admin site and test client."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from admin_helpers import change_url
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from djprocess.admin import ProcessLogInline
from djprocess.admin.logs import ProcessFilter
from djprocess.logs import LogEntry
from djprocess_example.models import ExampleProcess, ExampleProcessLog

pytestmark = pytest.mark.django_db


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
