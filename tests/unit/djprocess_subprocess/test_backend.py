"""``djprocess_subprocess.backend.SubprocessWorkerBackend``: options, capability flags that
follow the executor, and the check of an executor that cannot be imported. (The checks of
the gVisor executor: ``djprocess_gvisor/test_executor_checks.py``; the core's checks of the
backend's options and of ignored executor settings: ``djprocess/test_checks_backend.py``.)"""

from __future__ import annotations

import pytest
from django.test import override_settings
from unit_helpers import check_ids

from djprocess.backends import get_backend

pytestmark = pytest.mark.celery

SUBPROCESS = "djprocess_subprocess.backend.SubprocessWorkerBackend"
GVISOR = "djprocess_gvisor.executor.GvisorExecutor"


def test_flags_follow_the_executor() -> None:
    with override_settings(DJPROCESS_WORKER_BACKEND=SUBPROCESS):
        native = get_backend()
        assert native.capabilities() == {
            "supports_cancel": True,
            "supports_database_access": True,
            "supports_executor": True,
            "supports_kill": True,
            "supports_output_capture": True,
            "supports_probe": True,
            "supports_sandbox": False,
            "supports_stopping_descendants": True,
            "supports_timeout": True,
        }
    with override_settings(
        DJPROCESS_WORKER_BACKEND=SUBPROCESS, DJPROCESS_SUBPROCESS_EXECUTOR=GVISOR
    ):
        sandboxed = get_backend()
        assert sandboxed is not native  # the cache is reset when a setting changes
        assert sandboxed.supports_sandbox is True
        assert sandboxed.supports_database_access is False


def test_backend_options_choose_the_executor_over_the_setting() -> None:
    with override_settings(
        DJPROCESS_WORKER_BACKEND=SUBPROCESS,
        DJPROCESS_WORKER_BACKEND_OPTIONS={"executor": GVISOR, "executor_options": {}},
    ):
        backend = get_backend()
        assert backend.supports_sandbox is True
        assert get_backend() is backend


def test_an_executor_that_cannot_be_imported_is_reported() -> None:
    found = check_ids(DJPROCESS_WORKER_BACKEND=SUBPROCESS, DJPROCESS_SUBPROCESS_EXECUTOR="no.Such")
    assert "djprocess.E019" in found or "djprocess.E017" in found
