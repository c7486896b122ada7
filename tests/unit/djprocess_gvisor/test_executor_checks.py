"""``djprocess_gvisor.executor.GvisorExecutor.check``, run by the subprocess backend's checks:
runsc missing or unable to start a sandbox, and the network mode."""

from __future__ import annotations

import pytest
from django.test import override_settings
from unit_helpers import check_ids

pytestmark = pytest.mark.celery

SUBPROCESS = "djprocess_subprocess.backend.SubprocessWorkerBackend"
GVISOR = "djprocess_gvisor.executor.GvisorExecutor"


GVISOR_SETTINGS = {"DJPROCESS_WORKER_BACKEND": SUBPROCESS, "DJPROCESS_SUBPROCESS_EXECUTOR": GVISOR}


def test_gvisor_works_on_this_host() -> None:
    assert check_ids(**GVISOR_SETTINGS) == []


def test_runsc_missing_is_reported_at_startup() -> None:
    found = check_ids(**GVISOR_SETTINGS, DJPROCESS_GVISOR_RUNSC_PATH="/nonexistent/runsc")
    assert found == ["djprocess_gvisor.E001"]


def test_runsc_that_cannot_start_a_sandbox_is_reported_at_startup() -> None:
    found = check_ids(
        **GVISOR_SETTINGS, DJPROCESS_GVISOR_RUNSC_FLAGS=["--platform=no-such-platform"]
    )
    assert found == ["djprocess_gvisor.E002"]


def test_network_is_none_unless_set_and_host_is_warned_about() -> None:
    from djprocess_gvisor.executor import GvisorExecutor

    with override_settings(**GVISOR_SETTINGS):
        assert GvisorExecutor().network == "none"
        assert "--network" in (command := GvisorExecutor().runsc("list"))
        assert command[command.index("--network") + 1] == "none"
    assert check_ids(**GVISOR_SETTINGS, DJPROCESS_GVISOR_NETWORK="host") == [
        "djprocess_gvisor.W001"
    ]
    assert check_ids(**GVISOR_SETTINGS, DJPROCESS_GVISOR_NETWORK="bridge") == [
        "djprocess_gvisor.E003"
    ]
