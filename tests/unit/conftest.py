"""Fixtures for the unit tests (SQLite in memory, Celery eager:
``djprocess_test_settings.sqlite``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.test import override_settings
from recording_backend import PATH, RecordingBackend
from unit_helpers import CelerySetting

from djprocess.backends import get_backend
from djprocess.logs import _store as logstore
from djprocess_example.models import ExampleProcess

RunFunction = Callable[[ExampleProcess], None]


@pytest.fixture(autouse=True)
def _close_private_log_connections() -> Iterator[None]:
    """On PostgreSQL a log write inside ``atomic()`` opens a private connection per thread;
    close it after each test, so the test database can be dropped at the end."""
    yield
    logstore.close_private_connections()


@pytest.fixture
def backend() -> Iterator[RecordingBackend]:
    """The configured backend is a fresh :class:`RecordingBackend`."""
    with override_settings(DJPROCESS_WORKER_BACKEND=PATH):
        instance = get_backend()
        assert isinstance(instance, RecordingBackend)
        instance.reset()
        yield instance


@pytest.fixture
def make_process(db: None) -> Callable[..., ExampleProcess]:
    """``make_process(kind="succeed", **fields)``: a saved, pending ExampleProcess."""

    def make(kind: str = "succeed", **fields: Any) -> ExampleProcess:
        fields.setdefault("seconds", 0)
        fields.setdefault("lines", 2)
        return ExampleProcess.objects.create(kind=kind, **fields)

    return make


@pytest.fixture
def make(db: None) -> Callable[..., ExampleProcess]:
    """``make(**fields)``: a saved, pending ExampleProcess that logs one line."""

    def make(**fields: Any) -> ExampleProcess:
        fields.setdefault("seconds", 0)
        fields.setdefault("lines", 1)
        return ExampleProcess.objects.create(**fields)

    return make


@pytest.fixture
def custom_run(monkeypatch: pytest.MonkeyPatch) -> Callable[[RunFunction], str]:
    """``kind = custom_run(fn)``: an ExampleProcess of that kind runs ``fn(self)``.

    This stands in for a user's ``run()``; djprocess's own code is never patched.
    """
    counter = iter(range(1_000_000))

    def install(fn: RunFunction) -> str:
        kind = f"custom{next(counter)}"
        monkeypatch.setattr(ExampleProcess, f"_run_{kind}", fn, raising=False)
        return kind

    return install


@pytest.fixture
def celery_setting(monkeypatch: pytest.MonkeyPatch) -> CelerySetting:
    """Set a Celery setting on the current app for one test.

    The app reads Django settings with the ``CELERY`` namespace, and Celery 5.4 looks up
    ``CELERY_<NAME>`` before ``<name>``: the key this Celery reads is the one set.
    """
    from celery import current_app

    conf = current_app.conf

    def set_(name: str, value: object) -> None:
        monkeypatch.setitem(conf, name, value)
        if getattr(conf, name) != value:  # Celery 5.4: the namespaced key wins
            monkeypatch.setitem(conf, f"CELERY_{name.upper()}", value)
        assert getattr(conf, name) == value

    return set_
