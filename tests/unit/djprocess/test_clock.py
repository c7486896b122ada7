"""``djprocess._clock``: absolute time for deadlines."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from djprocess import _clock as clock


def test_utc_now_is_aware_utc_with_use_tz() -> None:
    now = clock.utc_now()
    assert now.tzinfo is not None
    assert abs(now - datetime.now(UTC)) < timedelta(seconds=5)
