"""Walking every page, or following with the cursor, yields every line once, in order;
out-of-range pages fail as Django's Paginator documents (same exceptions, same counts)."""

from __future__ import annotations

import pytest
from django.core.paginator import EmptyPage, InvalidPage, PageNotAnInteger, Paginator
from hypothesis import given, settings
from hypothesis import strategies as st

from djprocess.logs import LogEntry
from djprocess_example.models import ExampleProcess

pytestmark = pytest.mark.django_db


def _outcome(paginator_page: object, number: object) -> tuple[str, list[int]]:
    try:
        page = paginator_page(number)  # type: ignore[operator]
    except PageNotAnInteger:
        return "PageNotAnInteger", []
    except EmptyPage:
        return "EmptyPage", []
    except InvalidPage:  # pragma: no cover - would be a new kind
        return "InvalidPage", []
    return "ok", [line.sequence for line in page]


@settings(max_examples=60)
@given(
    size=st.integers(0, 120),
    per_page=st.integers(1, 25),
    probes=st.lists(
        st.one_of(st.integers(-3, 30), st.sampled_from(["1", "2", "x", "", "1.5", None, 2.0])),
        max_size=6,
    ),
    step=st.integers(1, 30),
)
def test_pages_and_cursor_yield_every_line_once(
    db: None, size: int, per_page: int, probes: list[object], step: int
) -> None:
    process = ExampleProcess.objects.create()
    process.log_many([LogEntry(message=f"line {n}") for n in range(1, size + 1)])
    expected = list(range(1, size + 1))

    first = process.paginate_logs(1, per_page)
    walked: list[int] = []
    for number in first.paginator.page_range:
        page = process.paginate_logs(number, per_page)
        walked += [line.sequence for line in page]
        assert page.has_next() == (number < first.paginator.num_pages)
        assert page.start_index() == (0 if size == 0 else (number - 1) * per_page + 1)
    assert walked == expected

    cursor, followed = 0, []
    while batch := process.logs_after(cursor, step):
        assert len(batch) <= step
        followed += [line.sequence for line in batch]
        cursor = batch[-1].sequence
    assert followed == expected

    django = Paginator(process.logs.order_by("sequence"), per_page)
    assert (first.paginator.count, first.paginator.num_pages) == (django.count, django.num_pages)
    for number in probes:
        ours = _outcome(lambda n: process.paginate_logs(n, per_page), number)
        theirs = _outcome(django.page, number)
        assert ours == theirs, number
