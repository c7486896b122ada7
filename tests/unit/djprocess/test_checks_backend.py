"""``djprocess.checks``, the configured backend's part: options it does not take
(``djprocess.E017``) and executor settings it would ignore (``djprocess.E018``)."""

from __future__ import annotations

import pytest
from django.test import override_settings
from unit_helpers import check_ids

from djprocess.backends import get_backend

pytestmark = pytest.mark.celery

SUBPROCESS = "djprocess_subprocess.backend.SubprocessWorkerBackend"
NATIVE = "djprocess_subprocess.native.NativeExecutor"
GVISOR = "djprocess_gvisor.executor.GvisorExecutor"


def test_an_option_the_backend_does_not_take_is_refused() -> None:
    assert "djprocess.E017" in check_ids(DJPROCESS_WORKER_BACKEND_OPTIONS={"colour": "red"})
    assert "djprocess.E017" in check_ids(DJPROCESS_WORKER_BACKEND_OPTIONS=["executor"])
    with (
        override_settings(DJPROCESS_WORKER_BACKEND_OPTIONS={"colour": "red"}),
        pytest.raises(TypeError, match="colour"),
    ):
        get_backend()


def test_executor_settings_with_a_backend_that_ignores_them_are_refused() -> None:
    # The Celery backend forks its runs: a gVisor executor would be silently ignored.
    assert check_ids(DJPROCESS_SUBPROCESS_EXECUTOR=GVISOR) == ["djprocess.E018"]
    assert check_ids(DJPROCESS_GVISOR_NETWORK="none") == ["djprocess.E018"]
    # The subprocess backend with the native executor ignores the gVisor settings.
    assert check_ids(
        DJPROCESS_WORKER_BACKEND=SUBPROCESS,
        DJPROCESS_SUBPROCESS_EXECUTOR=NATIVE,
        DJPROCESS_GVISOR_NETWORK="none",
    ) == ["djprocess.E018"]
    assert (
        check_ids(DJPROCESS_WORKER_BACKEND=SUBPROCESS, DJPROCESS_SUBPROCESS_EXECUTOR=NATIVE) == []
    )
