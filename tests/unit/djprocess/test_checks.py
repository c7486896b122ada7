"""Issue 6, configuration: each bad ``DJPROCESS_*`` value and each Celery configuration
that breaks djprocess is reported by ``manage.py check`` with its own stable id, a message
naming the setting and the bad value, and a hint with the fix."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.checks import CheckMessage, Error, run_checks
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import override_settings
from unit_helpers import CelerySetting

from djprocess.checks import check_settings

# run_checks() includes Django's model checks, which open a connection (JSONField support).
pytestmark = pytest.mark.django_db

BAD_VALUES: list[tuple[str, Any, str]] = [
    # (setting, bad value, the one id expected)
    ("DJPROCESS_PROCESS_QUEUE", "", "djprocess.E001"),
    ("DJPROCESS_PROCESS_QUEUE", "   ", "djprocess.E001"),
    ("DJPROCESS_PROCESS_QUEUE", None, "djprocess.E001"),
    ("DJPROCESS_PROCESS_QUEUE", 7, "djprocess.E001"),
    ("DJPROCESS_PROCESS_QUEUE", ["processes"], "djprocess.E001"),
    ("DJPROCESS_SUPERVISOR_QUEUE", "", "djprocess.E002"),
    ("DJPROCESS_SUPERVISOR_QUEUE", b"supervisor", "djprocess.E002"),
    ("DJPROCESS_SUPERVISOR_QUEUE", "processes", "djprocess.E003"),
    ("DJPROCESS_STATUS_POLL_SECONDS", 0, "djprocess.E012"),
    ("DJPROCESS_STATUS_POLL_SECONDS", "0.5", "djprocess.E012"),
    ("DJPROCESS_HEARTBEAT_SECONDS", 0.01, "djprocess.E013"),
    ("DJPROCESS_HEARTBEAT_SECONDS", True, "djprocess.E013"),
    ("DJPROCESS_SWEEP_SECONDS", -1, "djprocess.E014"),
    ("DJPROCESS_SWEEP_SECONDS", None, "djprocess.E014"),
    ("DJPROCESS_QUEUE_TIMEOUT_SECONDS", 0, "djprocess.E015"),
    ("DJPROCESS_QUEUE_TIMEOUT_SECONDS", 10**12, "djprocess.E015"),
    ("DJPROCESS_KILL_TERM_RETRIES", -1, "djprocess.E004"),
    ("DJPROCESS_KILL_TERM_RETRIES", "3", "djprocess.E004"),
    ("DJPROCESS_KILL_TERM_RETRIES", 2.5, "djprocess.E004"),
    ("DJPROCESS_KILL_TERM_RETRIES", True, "djprocess.E004"),
    ("DJPROCESS_KILL_TERM_RETRIES", None, "djprocess.E004"),
    ("DJPROCESS_KILL_TERM_RETRIES", 101, "djprocess.E004"),
    ("DJPROCESS_KILL_TERM_WAIT_SECONDS", 0, "djprocess.E005"),
    ("DJPROCESS_KILL_TERM_WAIT_SECONDS", -2, "djprocess.E005"),
    ("DJPROCESS_KILL_TERM_WAIT_SECONDS", "2", "djprocess.E005"),
    ("DJPROCESS_KILL_TERM_WAIT_SECONDS", True, "djprocess.E005"),
    ("DJPROCESS_KILL_TERM_WAIT_SECONDS", float("nan"), "djprocess.E005"),
    ("DJPROCESS_KILL_TERM_WAIT_SECONDS", float("inf"), "djprocess.E005"),
    ("DJPROCESS_KILL_TERM_WAIT_SECONDS", 3601, "djprocess.E005"),
    ("DJPROCESS_WORKER_BACKEND", "no_such_module.Backend", "djprocess.E006"),
    ("DJPROCESS_WORKER_BACKEND", "djprocess.backends.base.NoSuchClass", "djprocess.E006"),
    ("DJPROCESS_WORKER_BACKEND", "nodots", "djprocess.E006"),
    ("DJPROCESS_WORKER_BACKEND", "", "djprocess.E006"),
    ("DJPROCESS_WORKER_BACKEND", None, "djprocess.E006"),
    ("DJPROCESS_WORKER_BACKEND", 42, "djprocess.E006"),
    ("DJPROCESS_WORKER_BACKEND", "collections.OrderedDict", "djprocess.E007"),
    ("DJPROCESS_WORKER_BACKEND", "djprocess.conf.DEFAULTS", "djprocess.E007"),
    ("DJPROCESS_WORKER_BACKEND", "djprocess.backends.base.KillResult", "djprocess.E007"),
    ("DJPROCESS_CONTROL_TIMEOUT_SECONDS", 0, "djprocess.E008"),
    ("DJPROCESS_CONTROL_TIMEOUT_SECONDS", -0.5, "djprocess.E008"),
    ("DJPROCESS_CONTROL_TIMEOUT_SECONDS", "1", "djprocess.E008"),
    ("DJPROCESS_LOG_MAX_PER_PAGE", 0, "djprocess.E009"),
    ("DJPROCESS_LOG_MAX_PER_PAGE", -10, "djprocess.E009"),
    ("DJPROCESS_LOG_MAX_PER_PAGE", "100", "djprocess.E009"),
    ("DJPROCESS_LOG_MAX_PER_PAGE", 10.0, "djprocess.E009"),
    ("DJPROCESS_LOG_MAX_MESSAGE_LENGTH", 0, "djprocess.E010"),
    ("DJPROCESS_LOG_MAX_MESSAGE_LENGTH", -1, "djprocess.E010"),
    ("DJPROCESS_LOG_MAX_MESSAGE_LENGTH", "100000", "djprocess.E010"),
    ("DJPROCESS_LOG_MAX_MESSAGE_LENGTH", False, "djprocess.E010"),
    ("DJPROCESS_LOG_CAPTURE_LEVEL", "info", "djprocess.E011"),
    ("DJPROCESS_LOG_CAPTURE_LEVEL", "VERBOSE", "djprocess.E011"),
    ("DJPROCESS_LOG_CAPTURE_LEVEL", 20, "djprocess.E011"),
    ("DJPROCESS_LOG_CAPTURE_LEVEL", None, "djprocess.E011"),
    ("DJPROCESS_LOG_CAPTURE_LEVEL", ["INFO"], "djprocess.E011"),
]


def djprocess_messages(messages: list[CheckMessage]) -> list[CheckMessage]:
    return [m for m in messages if str(m.id).startswith("djprocess")]


def test_the_test_settings_are_clean() -> None:
    assert djprocess_messages(run_checks()) == []


def test_checks_are_registered_with_django() -> None:
    with override_settings(DJPROCESS_KILL_TERM_RETRIES=-1):
        assert [m.id for m in djprocess_messages(run_checks())] == ["djprocess.E004"]


@pytest.mark.parametrize(("name", "value", "check_id"), BAD_VALUES)
def test_bad_value_gets_its_id_naming_setting_value_and_fix(
    name: str, value: Any, check_id: str
) -> None:
    with override_settings(**{name: value}):
        messages = check_settings()

    assert [m.id for m in messages] == [check_id]
    message = messages[0]
    assert isinstance(message, Error)
    assert name in message.msg
    if check_id != "djprocess.E003":
        assert repr(value) in message.msg
    else:
        assert "'processes'" in message.msg
    assert message.hint
    assert message.hint.strip()


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("DJPROCESS_KILL_TERM_RETRIES", 0),  # documented: SIGKILL at once
        ("DJPROCESS_KILL_TERM_WAIT_SECONDS", 0.05),
        ("DJPROCESS_KILL_TERM_WAIT_SECONDS", 3600),
        ("DJPROCESS_CONTROL_TIMEOUT_SECONDS", 2),
        ("DJPROCESS_LOG_MAX_PER_PAGE", 1),
        ("DJPROCESS_LOG_MAX_MESSAGE_LENGTH", 1),
        ("DJPROCESS_PROCESS_QUEUE", "jobs"),
        ("DJPROCESS_LOG_CAPTURE_LEVEL", "WARNING"),
        ("DJPROCESS_WORKER_BACKEND", "recording_backend.RecordingBackend"),
    ],
)
def test_good_values_pass(name: str, value: Any) -> None:
    with override_settings(**{name: value}):
        assert check_settings() == []


def test_several_bad_values_are_all_reported() -> None:
    with override_settings(
        DJPROCESS_PROCESS_QUEUE="",
        DJPROCESS_KILL_TERM_RETRIES=-1,
        DJPROCESS_KILL_TERM_WAIT_SECONDS=0,
        DJPROCESS_LOG_MAX_PER_PAGE=0,
    ):
        ids = [m.id for m in check_settings()]
    assert ids == ["djprocess.E001", "djprocess.E004", "djprocess.E005", "djprocess.E009"]


def test_manage_py_check_fails_on_a_bad_setting() -> None:
    with (
        override_settings(DJPROCESS_SUPERVISOR_QUEUE="processes"),
        pytest.raises(SystemCheckError, match=r"djprocess\.E003"),
    ):
        call_command("check")


# -- the Celery backend's checks ---------------------------------------------------


def celery_ids() -> list[str]:
    from djprocess_celery.backend import CeleryWorkerBackend

    return [str(m.id) for m in CeleryWorkerBackend.check()]


@pytest.mark.celery
def test_the_test_celery_configuration_is_clean() -> None:
    assert celery_ids() == []


@pytest.mark.celery
@pytest.mark.parametrize("accepted", [["pickle"], ["application/x-python-serialize"], ["yaml"]])
def test_json_not_accepted_is_e001(celery_setting: CelerySetting, accepted: list[str]) -> None:
    celery_setting("accept_content", accepted)
    from djprocess_celery.backend import CeleryWorkerBackend

    (message,) = CeleryWorkerBackend.check()
    assert message.id == "djprocess_celery.E001"
    assert repr(sorted(accepted)) in message.msg
    assert message.hint == "Add 'json' to CELERY_ACCEPT_CONTENT."


@pytest.mark.celery
def test_json_among_others_is_fine(celery_setting: CelerySetting) -> None:
    celery_setting("accept_content", ["pickle", "json"])
    assert celery_ids() == []


@pytest.mark.celery
@pytest.mark.parametrize("pool", ["solo", "threads", "eventlet", "gevent"])
def test_a_pool_that_cannot_terminate_is_w001(celery_setting: CelerySetting, pool: str) -> None:
    celery_setting("worker_pool", pool)
    from djprocess_celery.backend import CeleryWorkerBackend

    (message,) = CeleryWorkerBackend.check()
    assert message.id == "djprocess_celery.W001"
    assert f"worker_pool={pool!r}" in message.msg
    assert "prefork" in (message.hint or "")


@pytest.mark.celery
@pytest.mark.parametrize("broker", ["redis://127.0.0.1:6379/0", "amqp://guest@localhost//"])
def test_eager_mode_with_a_real_broker_is_w002(celery_setting: CelerySetting, broker: str) -> None:
    celery_setting("broker_url", broker)
    from djprocess_celery.backend import CeleryWorkerBackend

    (message,) = CeleryWorkerBackend.check()
    assert message.id == "djprocess_celery.W002"
    assert "task_always_eager=True" in message.msg
    assert repr(broker.split("://")[0]) in message.msg
    assert "CELERY_TASK_ALWAYS_EAGER" in (message.hint or "")


@pytest.mark.celery
def test_eager_off_with_a_real_broker_is_fine(celery_setting: CelerySetting) -> None:
    celery_setting("broker_url", "redis://127.0.0.1:6379/0")
    celery_setting("task_always_eager", False)
    assert celery_ids() == []


@pytest.mark.celery
def test_undeclared_queues_without_create_missing_queues_is_e002(
    celery_setting: CelerySetting,
) -> None:
    from kombu import Queue

    celery_setting("task_create_missing_queues", False)
    celery_setting("task_queues", [Queue("processes"), Queue("other")])
    from djprocess_celery.backend import CeleryWorkerBackend

    (message,) = CeleryWorkerBackend.check()
    assert message.id == "djprocess_celery.E002"
    assert "DJPROCESS_SUPERVISOR_QUEUE='supervisor'" in message.msg
    assert "DJPROCESS_PROCESS_QUEUE" not in message.msg
    celery_setting("task_queues", [Queue("processes"), Queue("supervisor")])
    assert celery_ids() == []


@pytest.mark.celery
def test_manage_py_check_reports_celery_problems(celery_setting: CelerySetting) -> None:
    celery_setting("accept_content", ["pickle"])
    with pytest.raises(SystemCheckError, match=r"djprocess_celery\.E001"):
        call_command("check")


@pytest.mark.celery
def test_manage_py_check_fails_on_warnings_when_asked(celery_setting: CelerySetting) -> None:
    celery_setting("worker_pool", "solo")
    call_command("check")  # a warning alone does not fail
    with pytest.raises(SystemCheckError, match=r"djprocess_celery\.W001"):
        call_command("check", fail_level="WARNING")
