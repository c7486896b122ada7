"""Fixtures of the Celery backend's unit tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def _restore_task_join_will_block() -> Iterator[None]:
    """Building a real worker (``WorkController``) tells Celery, process-wide, that this
    process is a worker whose tasks must not wait on results; put it back, or the eager
    tasks of later tests refuse ``result.get()``."""
    try:
        from celery import _state
    except ImportError:  # the nocelery session: nothing to restore
        yield
        return
    before = _state.task_join_will_block()
    yield
    _state._set_task_join_will_block(before)
