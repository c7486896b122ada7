"""The subprocess backend and the gVisor executor: options, capability flags, and the
system checks that refuse a configuration whose promises would not hold."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import override_settings

from djprocess.backends import get_backend
from djprocess.checks import check_settings

pytestmark = pytest.mark.celery

SUBPROCESS = "djprocess_subprocess.backend.SubprocessWorkerBackend"
NATIVE = "djprocess_subprocess.native.NativeExecutor"
GVISOR = "djprocess_gvisor.executor.GvisorExecutor"


def ids(**settings: Any) -> list[str]:
    with override_settings(**settings):
        return [message.id or "" for message in check_settings()]


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


def test_an_option_the_backend_does_not_take_is_refused() -> None:
    assert "djprocess.E017" in ids(DJPROCESS_WORKER_BACKEND_OPTIONS={"colour": "red"})
    assert "djprocess.E017" in ids(DJPROCESS_WORKER_BACKEND_OPTIONS=["executor"])
    with (
        override_settings(DJPROCESS_WORKER_BACKEND_OPTIONS={"colour": "red"}),
        pytest.raises(TypeError, match="colour"),
    ):
        get_backend()


def test_executor_settings_with_a_backend_that_ignores_them_are_refused() -> None:
    # The Celery backend forks its runs: a gVisor executor would be silently ignored.
    assert ids(DJPROCESS_SUBPROCESS_EXECUTOR=GVISOR) == ["djprocess.E018"]
    assert ids(DJPROCESS_GVISOR_NETWORK="none") == ["djprocess.E018"]
    # The subprocess backend with the native executor ignores the gVisor settings.
    assert ids(
        DJPROCESS_WORKER_BACKEND=SUBPROCESS,
        DJPROCESS_SUBPROCESS_EXECUTOR=NATIVE,
        DJPROCESS_GVISOR_NETWORK="none",
    ) == ["djprocess.E018"]
    assert ids(DJPROCESS_WORKER_BACKEND=SUBPROCESS, DJPROCESS_SUBPROCESS_EXECUTOR=NATIVE) == []


def test_an_executor_that_cannot_be_imported_is_reported() -> None:
    found = ids(DJPROCESS_WORKER_BACKEND=SUBPROCESS, DJPROCESS_SUBPROCESS_EXECUTOR="no.Such")
    assert "djprocess.E019" in found or "djprocess.E017" in found


GVISOR_SETTINGS = {"DJPROCESS_WORKER_BACKEND": SUBPROCESS, "DJPROCESS_SUBPROCESS_EXECUTOR": GVISOR}


def test_gvisor_works_on_this_host() -> None:
    assert ids(**GVISOR_SETTINGS) == []


def test_runsc_missing_is_reported_at_startup() -> None:
    found = ids(**GVISOR_SETTINGS, DJPROCESS_GVISOR_RUNSC_PATH="/nonexistent/runsc")
    assert found == ["djprocess_gvisor.E001"]


def test_runsc_that_cannot_start_a_sandbox_is_reported_at_startup() -> None:
    found = ids(**GVISOR_SETTINGS, DJPROCESS_GVISOR_RUNSC_FLAGS=["--platform=no-such-platform"])
    assert found == ["djprocess_gvisor.E002"]


def test_network_is_none_unless_set_and_host_is_warned_about() -> None:
    from djprocess_gvisor.executor import GvisorExecutor

    with override_settings(**GVISOR_SETTINGS):
        assert GvisorExecutor().network == "none"
        assert "--network" in (command := GvisorExecutor().runsc("list"))
        assert command[command.index("--network") + 1] == "none"
    assert ids(**GVISOR_SETTINGS, DJPROCESS_GVISOR_NETWORK="host") == ["djprocess_gvisor.W001"]
    assert ids(**GVISOR_SETTINGS, DJPROCESS_GVISOR_NETWORK="bridge") == ["djprocess_gvisor.E003"]
