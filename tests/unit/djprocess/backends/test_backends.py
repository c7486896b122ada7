"""``djprocess.backends``: loading the configured backend, once per path and options."""

from __future__ import annotations

import re

import pytest
from django.test import override_settings
from recording_backend import PATH, RecordingBackend

from djprocess.backends import get_backend


def test_get_backend_loads_the_configured_class_once_per_path() -> None:
    with override_settings(DJPROCESS_WORKER_BACKEND=PATH):
        first = get_backend()
        assert isinstance(first, RecordingBackend)
        assert get_backend() is first


@pytest.mark.celery
def test_default_backend_is_celery() -> None:
    from djprocess_celery.backend import CeleryWorkerBackend

    assert isinstance(get_backend(), CeleryWorkerBackend)


def test_get_backend_refuses_a_class_that_is_not_a_backend() -> None:
    with (
        override_settings(DJPROCESS_WORKER_BACKEND="collections.OrderedDict"),
        pytest.raises(TypeError, match=r"'collections\.OrderedDict' is not a BaseWorkerBackend"),
    ):
        get_backend()


def test_get_backend_raises_import_error_for_a_bad_path() -> None:
    with (
        override_settings(DJPROCESS_WORKER_BACKEND="no_such_module.Backend"),
        pytest.raises(ImportError),
    ):
        get_backend()


def test_get_backend_names_options_the_backend_does_not_take() -> None:
    with (
        override_settings(
            DJPROCESS_WORKER_BACKEND=PATH, DJPROCESS_WORKER_BACKEND_OPTIONS={"bogus": 1}
        ),
        pytest.raises(
            TypeError,
            match=re.escape(f'DJPROCESS_WORKER_BACKEND_OPTIONS {{"bogus": 1}} for {PATH!r}: '),
        ),
    ):
        get_backend()


def test_a_setting_the_backend_is_made_from_makes_it_again() -> None:
    # DJPROCESS_WORKER_BACKEND_OPTIONS is declared with constructs_backend=True.
    with override_settings(DJPROCESS_WORKER_BACKEND=PATH):
        first = get_backend()
        with override_settings(DJPROCESS_WORKER_BACKEND_OPTIONS={}):
            assert get_backend() is not first


def test_a_setting_read_at_each_use_keeps_the_backend() -> None:
    # DJPROCESS_KILL_TERM_RETRIES is read when a kill escalates, not when a backend is made.
    with override_settings(DJPROCESS_WORKER_BACKEND=PATH):
        first = get_backend()
        with override_settings(DJPROCESS_KILL_TERM_RETRIES=1):
            assert get_backend() is first
