"""``djprocess._dispatch``: the timeout a dispatch accepts."""

from __future__ import annotations

from datetime import timedelta

from djprocess._dispatch import validate_timeout
from djprocess.validators import MAX_TIMEOUT
from djprocess_example.models import ExampleProcess


def test_validate_timeout_accepts_the_limits() -> None:
    validate_timeout(timedelta(microseconds=1))
    validate_timeout(MAX_TIMEOUT)
    ExampleProcess(kind="succeed", timeout=MAX_TIMEOUT).full_clean()
