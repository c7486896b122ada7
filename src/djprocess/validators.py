"""Field validators of :class:`~djprocess.models.BaseProcess`, and :func:`is_integer`.

They live in their own small module because migrations reference them by
dotted path (``djprocess.validators.validate_timeout_value``): keep that path.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TypeGuard

from django.core.exceptions import ValidationError

__all__ = ["MAX_TIMEOUT", "is_integer", "validate_timeout_value"]

#: The largest accepted ``timeout``. A watchdog countdown this long is still
#: exact; longer ones are refused (brokers re-deliver or drop very long countdowns).
MAX_TIMEOUT = timedelta(days=365)


def validate_timeout_value(value: object) -> None:
    """Raise :class:`ValidationError` unless ``value`` is a :class:`~datetime.timedelta`
    with ``0 < value <= MAX_TIMEOUT`` (365 days).

    Codes: ``"timeout_type"``, ``"timeout_not_positive"``, ``"timeout_too_large"``.
    The message names the bad value and the accepted range.
    """
    if not isinstance(value, timedelta):
        raise ValidationError(
            "timeout must be a datetime.timedelta, got %(value)r (e.g. timedelta(minutes=5))",
            code="timeout_type",
            params={"value": value},
        )
    if value <= timedelta(0):
        raise ValidationError(
            "timeout must be positive, got %(value)s",
            code="timeout_not_positive",
            params={"value": value},
        )
    if value > MAX_TIMEOUT:
        raise ValidationError(
            "timeout %(value)s is above the maximum %(max)s",
            code="timeout_too_large",
            params={"value": value, "max": MAX_TIMEOUT},
        )


def is_integer(value: object) -> TypeGuard[int]:
    """True if ``value`` is an :class:`int` and not a :class:`bool` (``True`` is an ``int``
    subclass, but never a count, a sequence or a log level). Every integer argument and
    setting djprocess accepts is tested with this."""
    return isinstance(value, int) and not isinstance(value, bool)
