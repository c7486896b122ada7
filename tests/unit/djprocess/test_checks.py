"""Issue 6, configuration: each bad ``DJPROCESS_*`` value is reported by ``manage.py check``
with its own stable id, a message naming the setting and the bad value, and a hint with the
fix. (Each Celery configuration that breaks djprocess:
``djprocess_celery/test_backend_checks.py``.)"""

from __future__ import annotations

from typing import Any

import pytest
from django.core.checks import CheckMessage, Error, run_checks
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import override_settings

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
