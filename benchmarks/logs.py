"""Log figures: pagination depth, ``paginate_logs()`` against Django's ``Paginator``, and the
write rate of ``log()`` / ``log_many()`` against a bare ``create()`` / ``bulk_create()``."""

from __future__ import annotations

import statistics
from collections.abc import Callable
from typing import Any

from framework import Context, Result, figure

PER_PAGE = 100


def _models() -> tuple[Any, Any]:
    from djprocess_example.models import ExampleProcess, ExampleProcessLog

    return ExampleProcess, ExampleProcessLog


def _fill(process: Any, lines: int, vendor: str) -> None:
    """``lines`` log lines for ``process`` written in bulk by the database (set-up only,
    not measured), and its counter."""
    from django.db import connection, transaction

    from djprocess.logs._sql import counter_label
    from djprocess.models import LogCounter

    _, log_model = _models()
    qn = connection.ops.quote_name
    table = qn(log_model._meta.db_table)
    columns = ", ".join(
        qn(c) for c in ("process_id", "sequence", "level", "message", "extra", "created")
    )
    if vendor == "postgresql":
        sql = (
            f"INSERT INTO {table} ({columns}) SELECT %s, g, 'INFO', 'line ' || g, "
            f"'{{}}'::jsonb, now() FROM generate_series(1, %s) AS g"
        )
    else:
        sql = (
            f"WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < %s) "
            f"INSERT INTO {table} ({columns}) SELECT %s, n, 'INFO', 'line ' || n, '{{}}', "
            f"datetime('now') FROM g"
        )
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, [process.pk, lines] if vendor == "postgresql" else [lines, process.pk])
        LogCounter.objects.update_or_create(
            model=counter_label(type(process)), object_id=str(process.pk), defaults={"value": lines}
        )


def _rounds(
    ctx: Context, ours: Callable[[], object], anchor: Callable[[], object]
) -> tuple[list[float], list[float]]:
    """Time ``ours`` and ``anchor`` once per round, alternating which goes first, after one
    warm-up call of each."""
    ours()
    anchor()
    ours_times: list[float] = []
    anchor_times: list[float] = []
    for index in range(ctx.size.rounds):
        if index % 2:
            anchor_times.append(ctx.timed(anchor))
            ours_times.append(ctx.timed(ours))
        else:
            ours_times.append(ctx.timed(ours))
            anchor_times.append(ctx.timed(anchor))
    return ours_times, anchor_times


@figure("pagination", "paginate_logs() last page vs page 1, and vs Django's Paginator")
def pagination(ctx: Context) -> list[Result]:
    results: list[Result] = []
    for lines in ctx.size.log_lines:
        results += _pagination_at(ctx, lines)
    return results


def _pagination_at(ctx: Context, lines: int) -> list[Result]:
    from django.core.paginator import Paginator

    process_model, log_model = _models()
    process = process_model.objects.create()
    try:
        _fill(process, lines, ctx.vendor)
        ctx.vacuum_analyze(log_model._meta.db_table, "djprocess_logcounter")
        last = (lines + PER_PAGE - 1) // PER_PAGE
        case = f"{lines:,} lines, {PER_PAGE}/page"

        def first_page() -> None:
            list(process.paginate_logs(1, PER_PAGE))

        def last_page() -> None:
            list(process.paginate_logs("last", PER_PAGE))

        def django_last_page() -> None:
            queryset = log_model.objects.filter(process=process).order_by("sequence")
            list(Paginator(queryset, PER_PAGE).page(last))

        deep, shallow = _rounds(ctx, last_page, first_page)
        ours, stock = _rounds(ctx, last_page, django_last_page)
        return [
            Result(
                figure="paginate_logs last page / page 1",
                case=case,
                meaning="time ratio (1.0 = depth costs nothing)",
                ratios=[d / s for d, s in zip(deep, shallow, strict=True)],
                target="<= 1.2x",
                ours_seconds=statistics.median(deep),
                anchor_seconds=statistics.median(shallow),
            ),
            Result(
                figure="Paginator / paginate_logs, last page",
                case=case,
                meaning="how many times faster than Django's Paginator",
                ratios=[a / o for o, a in zip(ours, stock, strict=True)],
                target=">= 50x (1 M lines and more)",
                ours_seconds=statistics.median(ours),
                anchor_seconds=statistics.median(stock),
            ),
        ]
    finally:
        log_model.objects.filter(process=process).delete()
        process.delete()


@figure("log_rate", "log() one line at a time vs a bare create() of the same row")
def log_rate(ctx: Context) -> list[Result]:
    from django.utils import timezone

    process_model, log_model = _models()
    count = ctx.size.writes
    ours_process = process_model.objects.create()
    anchor_process = process_model.objects.create()
    sequence = iter(range(1, 10**9))
    try:

        def ours() -> None:
            for n in range(count):
                ours_process.log(f"line {n}")

        def anchor() -> None:
            for n in range(count):
                log_model.objects.create(
                    process=anchor_process,
                    sequence=next(sequence),
                    level="INFO",
                    message=f"line {n}",
                    extra={},
                    created=timezone.now(),
                )

        ctx.vacuum_analyze(log_model._meta.db_table, "djprocess_logcounter")
        ours_times, anchor_times = _rounds(ctx, ours, anchor)
        return [
            Result(
                figure="log() rate / create() rate",
                case=f"{count} lines per round, one call each",
                meaning="rate ratio (1.0 = as fast as a bare create())",
                ratios=[a / o for o, a in zip(ours_times, anchor_times, strict=True)],
                target=">= 0.9x",
                ours_seconds=statistics.median(ours_times),
                anchor_seconds=statistics.median(anchor_times),
            )
        ]
    finally:
        for process in (ours_process, anchor_process):
            log_model.objects.filter(process=process).delete()
            process.delete()


@figure("log_many_rate", "log_many() vs bulk_create() of the same rows")
def log_many_rate(ctx: Context) -> list[Result]:
    from django.utils import timezone

    process_model, log_model = _models()
    batch = 1000
    ours_process = process_model.objects.create()
    anchor_process = process_model.objects.create()
    next_sequence = [1]
    messages = [f"line {n}" for n in range(batch)]
    try:

        def ours() -> None:
            ours_process.log_many(messages)

        def anchor() -> None:
            now = timezone.now()
            first = next_sequence[0]
            next_sequence[0] += batch
            log_model.objects.bulk_create(
                log_model(
                    process=anchor_process,
                    sequence=first + n,
                    level="INFO",
                    message=message,
                    extra={},
                    created=now,
                )
                for n, message in enumerate(messages)
            )

        ctx.vacuum_analyze(log_model._meta.db_table, "djprocess_logcounter")
        ours_times, anchor_times = _rounds(ctx, ours, anchor)
        return [
            Result(
                figure="log_many() rate / bulk_create() rate",
                case=f"{batch} lines per call",
                meaning="rate ratio (1.0 = as fast as bulk_create())",
                ratios=[a / o for o, a in zip(ours_times, anchor_times, strict=True)],
                target=">= 0.95x",
                ours_seconds=statistics.median(ours_times),
                anchor_seconds=statistics.median(anchor_times),
            )
        ]
    finally:
        for process in (ours_process, anchor_process):
            log_model.objects.filter(process=process).delete()
            process.delete()
