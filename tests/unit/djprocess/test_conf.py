"""``djprocess.conf``: defaults, and values read at access time (``override_settings``)."""

from __future__ import annotations

import pytest
from django.conf import settings as django_settings
from django.test import override_settings

from djprocess.conf import DEFAULTS, settings

PROPERTIES = {
    "DJPROCESS_PROCESS_QUEUE": "PROCESS_QUEUE",
    "DJPROCESS_SUPERVISOR_QUEUE": "SUPERVISOR_QUEUE",
    "DJPROCESS_KILL_TERM_RETRIES": "KILL_TERM_RETRIES",
    "DJPROCESS_KILL_TERM_WAIT_SECONDS": "KILL_TERM_WAIT_SECONDS",
    "DJPROCESS_WORKER_BACKEND": "WORKER_BACKEND",
    "DJPROCESS_CONTROL_TIMEOUT_SECONDS": "CONTROL_TIMEOUT_SECONDS",
    "DJPROCESS_LOG_MAX_PER_PAGE": "LOG_MAX_PER_PAGE",
    "DJPROCESS_LOG_MAX_MESSAGE_LENGTH": "LOG_MAX_MESSAGE_LENGTH",
    "DJPROCESS_LOG_CAPTURE_LEVEL": "LOG_CAPTURE_LEVEL",
    "DJPROCESS_STATUS_POLL_SECONDS": "STATUS_POLL_SECONDS",
    "DJPROCESS_HEARTBEAT_SECONDS": "HEARTBEAT_SECONDS",
    "DJPROCESS_SWEEP_SECONDS": "SWEEP_SECONDS",
    "DJPROCESS_QUEUE_TIMEOUT_SECONDS": "QUEUE_TIMEOUT_SECONDS",
    "DJPROCESS_WORKER_BACKEND_OPTIONS": "WORKER_BACKEND_OPTIONS",
    "DJPROCESS_SUBPROCESS_EXECUTOR": "SUBPROCESS_EXECUTOR",
    "DJPROCESS_GVISOR_RUNSC_PATH": "GVISOR_RUNSC_PATH",
    "DJPROCESS_GVISOR_RUNSC_ROOT": "GVISOR_RUNSC_ROOT",
    "DJPROCESS_GVISOR_NETWORK": "GVISOR_NETWORK",
    "DJPROCESS_GVISOR_RUNSC_FLAGS": "GVISOR_RUNSC_FLAGS",
    "DJPROCESS_GVISOR_MOUNTS": "GVISOR_MOUNTS",
}


def test_every_setting_has_a_property() -> None:
    assert set(PROPERTIES) == set(DEFAULTS)


def test_spec_defaults() -> None:
    assert DEFAULTS["DJPROCESS_PROCESS_QUEUE"] == "processes"
    assert DEFAULTS["DJPROCESS_SUPERVISOR_QUEUE"] == "supervisor"
    assert DEFAULTS["DJPROCESS_KILL_TERM_RETRIES"] == 3
    assert DEFAULTS["DJPROCESS_KILL_TERM_WAIT_SECONDS"] == 2
    assert DEFAULTS["DJPROCESS_WORKER_BACKEND"] == "djprocess_celery.backend.CeleryWorkerBackend"


@pytest.mark.parametrize(("name", "attribute"), sorted(PROPERTIES.items()))
def test_unset_setting_reads_the_default(name: str, attribute: str) -> None:
    with override_settings():
        if hasattr(django_settings, name):
            delattr(django_settings, name)
        assert getattr(settings, attribute) == DEFAULTS[name]


def test_values_are_read_at_access_time() -> None:
    with override_settings(DJPROCESS_PROCESS_QUEUE="q1", DJPROCESS_KILL_TERM_WAIT_SECONDS=3):
        assert settings.PROCESS_QUEUE == "q1"
        assert settings.KILL_TERM_WAIT_SECONDS == 3.0
    with override_settings(DJPROCESS_PROCESS_QUEUE="q2"):
        assert settings.PROCESS_QUEUE == "q2"
