"""``djprocess.conf``: defaults, and values read at access time (``override_settings``).

Every declared setting (the core's and the backend packages') has an accessor that reads
its default when unset; the core's are attributes of ``djprocess.conf.settings``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.test import override_settings

from djprocess.conf import DEFAULTS, Settings, declared, settings
from djprocess_celery import conf as celery_conf
from djprocess_gvisor import conf as gvisor_conf
from djprocess_subprocess import conf as subprocess_conf

#: The core's settings: ``djprocess.conf.settings.<attribute>``.
PROPERTIES = {
    "DJPROCESS_KILL_TERM_RETRIES": "KILL_TERM_RETRIES",
    "DJPROCESS_KILL_TERM_WAIT_SECONDS": "KILL_TERM_WAIT_SECONDS",
    "DJPROCESS_WORKER_BACKEND": "WORKER_BACKEND",
    "DJPROCESS_LOG_MAX_PER_PAGE": "LOG_MAX_PER_PAGE",
    "DJPROCESS_LOG_MAX_MESSAGE_LENGTH": "LOG_MAX_MESSAGE_LENGTH",
    "DJPROCESS_LOG_CAPTURE_LEVEL": "LOG_CAPTURE_LEVEL",
    "DJPROCESS_STATUS_POLL_SECONDS": "STATUS_POLL_SECONDS",
    "DJPROCESS_HEARTBEAT_SECONDS": "HEARTBEAT_SECONDS",
    "DJPROCESS_SWEEP_SECONDS": "SWEEP_SECONDS",
    "DJPROCESS_QUEUE_TIMEOUT_SECONDS": "QUEUE_TIMEOUT_SECONDS",
    "DJPROCESS_WORKER_BACKEND_OPTIONS": "WORKER_BACKEND_OPTIONS",
}

#: The backend packages' settings: the function of their ``conf`` module that reads each.
FUNCTIONS: dict[str, Callable[[], Any]] = {
    "DJPROCESS_PROCESS_QUEUE": celery_conf.process_queue,
    "DJPROCESS_SUPERVISOR_QUEUE": celery_conf.supervisor_queue,
    "DJPROCESS_CONTROL_TIMEOUT_SECONDS": celery_conf.control_timeout_seconds,
    "DJPROCESS_SUBPROCESS_EXECUTOR": lambda: subprocess_conf.SUBPROCESS_EXECUTOR.get(),
    "DJPROCESS_GVISOR_RUNSC_PATH": gvisor_conf.runsc_path,
    "DJPROCESS_GVISOR_RUNSC_ROOT": gvisor_conf.runsc_root,
    "DJPROCESS_GVISOR_NETWORK": gvisor_conf.network_mode,
    "DJPROCESS_GVISOR_RUNSC_FLAGS": gvisor_conf.runsc_flags,
    "DJPROCESS_GVISOR_MOUNTS": gvisor_conf.mounts,
}


def _read(name: str) -> Any:
    return getattr(settings, PROPERTIES[name]) if name in PROPERTIES else FUNCTIONS[name]()


def test_every_setting_has_a_property() -> None:
    assert set(PROPERTIES) | set(FUNCTIONS) == set(DEFAULTS)
    assert not set(PROPERTIES) & set(FUNCTIONS)
    core = {value.name for value in vars(Settings).values() if hasattr(value, "check_id")}
    assert core == set(PROPERTIES)


def test_defaults_is_the_declarations() -> None:
    assert list(DEFAULTS) == [declaration.name for declaration in declared()]
    assert len(DEFAULTS) == len(declared())
    with pytest.raises(KeyError):
        DEFAULTS["DJPROCESS_NO_SUCH_SETTING"]


def test_spec_defaults() -> None:
    assert DEFAULTS["DJPROCESS_PROCESS_QUEUE"] == "processes"
    assert DEFAULTS["DJPROCESS_SUPERVISOR_QUEUE"] == "supervisor"
    assert DEFAULTS["DJPROCESS_KILL_TERM_RETRIES"] == 3
    assert DEFAULTS["DJPROCESS_KILL_TERM_WAIT_SECONDS"] == 2
    assert DEFAULTS["DJPROCESS_WORKER_BACKEND"] == "djprocess_celery.backend.CeleryWorkerBackend"


@pytest.mark.parametrize("name", sorted(set(PROPERTIES) | set(FUNCTIONS)))
def test_unset_setting_reads_the_default(name: str) -> None:
    with override_settings():
        if hasattr(django_settings, name):
            delattr(django_settings, name)
        assert _read(name) == DEFAULTS[name]


def test_values_are_read_at_access_time() -> None:
    with override_settings(DJPROCESS_PROCESS_QUEUE="q1", DJPROCESS_KILL_TERM_WAIT_SECONDS=3):
        assert celery_conf.process_queue() == "q1"
        assert settings.KILL_TERM_WAIT_SECONDS == 3.0
    with override_settings(DJPROCESS_PROCESS_QUEUE="q2"):
        assert celery_conf.process_queue() == "q2"


def test_the_class_attribute_is_the_declaration() -> None:
    declaration = Settings.KILL_TERM_RETRIES
    assert declaration.name == "DJPROCESS_KILL_TERM_RETRIES"
    assert declaration.check_id == "djprocess.E004"
    with override_settings(DJPROCESS_KILL_TERM_RETRIES=7):
        assert settings.KILL_TERM_RETRIES == declaration.get() == 7


def test_derived_values() -> None:
    with override_settings(
        DJPROCESS_HEARTBEAT_SECONDS=2,
        DJPROCESS_KILL_TERM_RETRIES=2,
        DJPROCESS_KILL_TERM_WAIT_SECONDS=3,
    ):
        assert settings.HEARTBEAT_STALE_SECONDS == 12.0
        assert settings.STOP_BUDGET_SECONDS == 16.0
