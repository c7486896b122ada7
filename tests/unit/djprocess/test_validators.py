"""``djprocess.validators``: the timeout validator and ``is_integer``."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from djprocess.validators import MAX_TIMEOUT, is_integer, validate_timeout_value


@pytest.mark.parametrize(
    "value",
    [timedelta(microseconds=1), timedelta(milliseconds=500), timedelta(minutes=20), MAX_TIMEOUT],
)
def test_accepts_positive_timedeltas_up_to_the_maximum(value: timedelta) -> None:
    validate_timeout_value(value)


@pytest.mark.parametrize(
    ("value", "code", "text"),
    [
        (timedelta(0), "timeout_not_positive", "timeout must be positive, got 0:00:00"),
        (timedelta(seconds=-5), "timeout_not_positive", "got -1 day, 23:59:55"),
        (
            MAX_TIMEOUT + timedelta(microseconds=1),
            "timeout_too_large",
            "timeout 365 days, 0:00:00.000001 is above the maximum 365 days, 0:00:00",
        ),
        (timedelta.max, "timeout_too_large", "is above the maximum"),
        (30, "timeout_type", "timeout must be a datetime.timedelta, got 30"),
        ("00:05:00", "timeout_type", "got '00:05:00'"),
        (None, "timeout_type", "got None"),
    ],
)
def test_refuses_with_a_code_and_the_bad_value(value: object, code: str, text: str) -> None:
    with pytest.raises(ValidationError) as caught:
        validate_timeout_value(value)
    assert caught.value.code == code
    assert text in caught.value.messages[0]


@pytest.mark.parametrize("value", [0, 1, -3, 2**70])
def test_is_integer_accepts_ints(value: int) -> None:
    assert is_integer(value)


@pytest.mark.parametrize("value", [True, False, 1.0, "1", None, Decimal(1)])
def test_is_integer_refuses_bools_and_other_numbers(value: object) -> None:
    assert not is_integer(value)
