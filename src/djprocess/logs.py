"""Writing and reading a process's log lines.

Sequences are gapless per process: each write bumps the process row's
``log_sequence`` counter and inserts its lines in the same transaction, so the
counter and the lines commit (or roll back) together. Because the lines are
numbered 1..n with no gaps, page *k* is the sequence range
``((k-1)·per_page, k·per_page]``: no ``COUNT(*)`` and no ``OFFSET``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.core.paginator import EmptyPage, Page, PageNotAnInteger, Paginator
from django.db import router, transaction
from django.db.models import F, QuerySet
from django.utils.functional import cached_property

if TYPE_CHECKING:
    from djprocess.models import BaseProcess, BaseProcessLog

LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


@dataclass(frozen=True, kw_only=True)
class LogEntry:
    """One line to write: ``level`` is a logging level name or number."""

    message: Any
    level: str | int = "INFO"
    extra: Mapping[str, Any] | None = field(default=None)


def level_name(level: str | int) -> str:
    """Normalise ``level`` to a standard logging level name (``"INFO"``, ``"ERROR"``…).

    Numbers map to the nearest standard level at or below them; unknown names
    raise :class:`ValueError` naming the value.
    """
    if isinstance(level, int) and not isinstance(level, bool):
        for name in reversed(LEVELS):
            if level >= logging.getLevelNamesMapping()[name]:
                return name
        return "DEBUG"
    if isinstance(level, str):
        upper = level.strip().upper()
        if upper == "WARN":
            return "WARNING"
        if upper in LEVELS:
            return upper
    raise ValueError(f"unknown log level {level!r}: use one of {', '.join(LEVELS)}")


def append(process: BaseProcess, entries: Sequence[LogEntry]) -> list[int]:
    """Store ``entries`` in order as the next lines of ``process``'s log.

    Returns the sequences given to them. The write is committed when this returns
    (unless the caller is inside ``transaction.atomic()`` on the same database).
    """
    if not entries:
        return []
    log_model, fk_name = type(process).log_model()
    db = router.db_for_write(log_model, instance=process)
    manager = type(process)._base_manager.db_manager(db)
    with transaction.atomic(using=db):
        # The UPDATE takes the row lock that serialises concurrent writers.
        bumped = manager.filter(pk=process.pk).update(log_sequence=F("log_sequence") + len(entries))
        if not bumped:
            raise type(process).DoesNotExist(f"process pk={process.pk!r} no longer exists")
        last: int = manager.filter(pk=process.pk).values_list("log_sequence", flat=True).get()
        first = last - len(entries) + 1
        rows = [
            log_model(
                **{f"{fk_name}_id": process.pk},
                sequence=first + index,
                level=level_name(entry.level),
                message=str(entry.message),
                extra=dict(entry.extra or {}),
            )
            for index, entry in enumerate(entries)
        ]
        log_model._base_manager.db_manager(db).bulk_create(rows)
    process.log_sequence = last
    return list(range(first, last + 1))


class SequencePaginator(Paginator):
    """A :class:`~django.core.paginator.Paginator` over gapless sequences.

    ``count`` comes from the process's counter and each page is a range filter on
    ``sequence``, so page 1 and page 10 000 cost the same two small queries.
    """

    def __init__(self, object_list: QuerySet[Any], per_page: int, *, total: int) -> None:
        super().__init__(object_list, per_page, allow_empty_first_page=True)
        self._total = total

    @cached_property
    def count(self) -> int:
        return self._total

    def page(self, number: int | str) -> Page:
        if number == "last":
            number = self.num_pages
        number = self.validate_number(number)
        bottom = (number - 1) * self.per_page
        top = bottom + self.per_page
        lines = list(self.object_list.filter(sequence__gt=bottom, sequence__lte=top))
        return self._get_page(lines, number, self)


def paginate(process: BaseProcess, page: int | str, per_page: int, max_per_page: int) -> Page:
    """Return page ``page`` of ``process``'s log, ``per_page`` lines a page.

    Raises :class:`~django.core.paginator.PageNotAnInteger` / :class:`EmptyPage`
    like Django's paginator (``page="last"`` is accepted), and :class:`ValueError`
    for a ``per_page`` that is not an integer in ``1..max_per_page``.
    """
    if not isinstance(per_page, int) or isinstance(per_page, bool) or not 1 <= per_page:
        raise ValueError(f"per_page must be an integer >= 1, got {per_page!r}")
    if per_page > max_per_page:
        raise ValueError(
            f"per_page={per_page} is above DJPROCESS_LOG_MAX_PER_PAGE={max_per_page}"
        )
    log_model, fk_name = type(process).log_model()
    total: int = type(process)._base_manager.values_list("log_sequence", flat=True).get(
        pk=process.pk
    )
    lines = log_model._base_manager.filter(**{f"{fk_name}_id": process.pk}).order_by("sequence")
    paginator = SequencePaginator(lines, per_page, total=total)
    return paginator.page(page)


def tail(process: BaseProcess, after: int = 0, limit: int = 100) -> list[BaseProcessLog]:
    """Lines with ``sequence > after``, at most ``limit``, in order (for following a run)."""
    if not isinstance(after, int) or after < 0:
        raise ValueError(f"after must be an integer >= 0, got {after!r}")
    if not isinstance(limit, int) or not 1 <= limit:
        raise ValueError(f"limit must be an integer >= 1, got {limit!r}")
    log_model, fk_name = type(process).log_model()
    queryset = log_model._base_manager.filter(
        **{f"{fk_name}_id": process.pk}, sequence__gt=after, sequence__lte=after + limit
    ).order_by("sequence")
    return list(queryset)


__all__ = ["EmptyPage", "LogEntry", "PageNotAnInteger", "append", "level_name", "paginate", "tail"]
