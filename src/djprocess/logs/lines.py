"""Writing and reading a process's log lines.

Sequences are gapless per process: each write bumps the process's counter
(:class:`djprocess.models.LogCounter`) and inserts its lines in the same transaction,
so the counter and the lines commit (or roll back) together; where and on which
connection is :mod:`djprocess.logs._store`'s business. Because the lines are numbered
1..n with no gaps, page *k* is the sequence range ``((k-1)·per_page, k·per_page]``:
no ``COUNT(*)`` and no ``OFFSET``, and the count is the counter.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from django.apps import apps
from django.core.paginator import Page, PageNotAnInteger, Paginator
from django.db import router
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.functional import cached_property

from djprocess.logs import _sql as logsql
from djprocess.logs import _store as logstore
from djprocess.logs.sanitize import clean_entry
from djprocess.run import relay
from djprocess.validators import is_integer

if TYPE_CHECKING:
    from djprocess.models import BaseProcess, BaseProcessLog


@dataclass(frozen=True, kw_only=True)
class LogEntry:
    """One line to write: ``level`` is a logging level name or number."""

    message: Any
    level: str | int = "INFO"
    extra: Mapping[str, Any] | None = field(default=None)


def append(process: BaseProcess, entries: Sequence[LogEntry | str]) -> list[int]:
    """Store ``entries`` in order as the next lines of ``process``'s log (a plain string is
    a line at level ``INFO``).

    Returns the sequences given to them (``[]`` for no entries). When this returns the
    lines are committed and visible to other connections, even when the caller is
    inside ``transaction.atomic()`` (then they survive its rollback), except in the
    fallback cases described in :mod:`djprocess.logs._store` (SQLite inside ``atomic()``,
    a process row not yet committed): there they are visible when the caller commits,
    written again if it rolls back, and ``0`` is returned for lines deferred because the
    caller's transaction was already broken. Bad input is cleaned, never refused (see
    :mod:`djprocess.logs.sanitize`). Raises ``ProcessNotSaved``-like ``ValueError`` for an
    unsaved process, ``DoesNotExist`` if its row is gone, and :class:`LookupError` if
    the model has no log model.
    """
    if process.pk is None:
        raise ValueError(f"cannot log to an unsaved {type(process).__name__}: save it first")
    if not entries:
        return []
    now = timezone.now()
    rows: list[logstore.Row] = [
        (*clean_entry(entry, "INFO", None), now)
        if isinstance(entry, str)
        else (*clean_entry(entry.message, entry.level, entry.extra), now)
        for entry in entries
    ]
    if relay.active is not None:  # a run with no database access (a sandbox)
        return relay.active.log(rows)
    return logstore.write(process, rows)


def count(process: BaseProcess) -> int:
    """How many lines ``process``'s log has (= the sequence of its last line): one
    indexed lookup of its counter, as the caller's connection sees it."""
    LogCounter = apps.get_model("djprocess", "LogCounter")

    log_model, _ = type(process).log_model()
    db = router.db_for_read(log_model, instance=process)
    value = (
        LogCounter._base_manager.using(db)
        .filter(model=logsql.counter_label(type(process)), object_id=str(process.pk))
        .values_list("value", flat=True)
        .first()
    )
    return int(value or 0)


class SequencePaginator(Paginator):  # type: ignore[type-arg]
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

    def page(self, number: int | str) -> Page[Any]:
        """Page ``number`` (1-based, or ``"last"``): one range query on ``sequence``."""
        if number == "last":
            number = self.num_pages
        number = self.validate_number(number)
        bottom = (number - 1) * self.per_page
        # Clamp to the count read before: a line committed since belongs to a later view.
        top = min(bottom + self.per_page, self._total)
        queryset = cast("QuerySet[Any]", self.object_list)
        lines = list(queryset.filter(sequence__gt=bottom, sequence__lte=top))
        return Page(lines, number, self)


def _check_int(name: str, value: object, low: int, high: int | None = None) -> int:
    if not is_integer(value) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    if high is not None and value > high:
        raise ValueError(f"{name}={value} is above DJPROCESS_LOG_MAX_PER_PAGE={high}")
    return value


def _lines(process: BaseProcess) -> QuerySet[Any]:
    log_model, fk_name = type(process).log_model()
    db = router.db_for_read(log_model, instance=process)
    return log_model._base_manager.using(db).filter(**{f"{fk_name}_id": process.pk})


def paginate(process: BaseProcess, page: int | str, per_page: int, max_per_page: int) -> Page[Any]:
    """Return page ``page`` of ``process``'s log, ``per_page`` lines a page.

    Two queries whatever the page and the log's size: the counter (:func:`count`) and a
    range of sequences, both index lookups. Raises
    :class:`~django.core.paginator.PageNotAnInteger` / :class:`EmptyPage` like Django's
    paginator (``page="last"`` is accepted; page 1 of an empty log is an empty page), and
    :class:`ValueError` for a ``per_page`` that is not an integer in ``1..max_per_page``.
    """
    _check_int("per_page", per_page, 1, max_per_page)
    lines = _lines(process).order_by("sequence")
    if isinstance(page, bool):  # True == 1 in Python; a bool is never a page number
        raise PageNotAnInteger(f"page must be an integer or 'last', got {page!r}")
    paginator = SequencePaginator(lines, per_page, total=count(process))
    return paginator.page(page)


def tail(
    process: BaseProcess, after: int = 0, limit: int = 100, max_limit: int | None = None
) -> list[BaseProcessLog]:
    """Lines with ``sequence > after``, at most ``limit``, in sequence order: a cursor for
    following a running process (pass the last sequence you got as the next ``after``).

    One bounded query (an index range scan with ``LIMIT``, no ``OFFSET``). Raises
    :class:`ValueError` if ``after`` is not an integer ``>= 0`` or ``limit`` not one in
    ``1..max_limit``.
    """
    _check_int("after", after, 0)
    _check_int("limit", limit, 1, max_limit)
    return list(_lines(process).filter(sequence__gt=after).order_by("sequence")[:limit])


__all__ = ["LogEntry", "SequencePaginator", "append", "count", "paginate", "tail"]
