"""Fixtures of the Celery backend's unit tests."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator

import pytest

#: The test files that import Celery at module level (the others import it inside their
#: ``celery``-marked tests): not even collected where Celery is not installed (the
#: nocelery session, which deselects the ``celery`` mark but must import each file first).
NEEDS_CELERY_TO_IMPORT = ["test_control.py", "test_startup.py", "test_poolchild.py"]

if importlib.util.find_spec("celery") is None:
    collect_ignore = NEEDS_CELERY_TO_IMPORT


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
