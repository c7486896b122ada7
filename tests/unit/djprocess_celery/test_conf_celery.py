"""``djprocess_celery.conf``: the Celery settings, declared in the package that reads them,
keep their ``djprocess.E0xx`` ids; djprocess 0.0.1's functions read them."""

from __future__ import annotations

from django.test import override_settings

from djprocess.conf import declared
from djprocess_celery import conf


def test_the_celery_settings_are_declared_with_their_old_ids() -> None:
    ids = {found.name: found.check_id for found in declared()}
    assert ids["DJPROCESS_PROCESS_QUEUE"] == "djprocess.E001"
    assert ids["DJPROCESS_SUPERVISOR_QUEUE"] == "djprocess.E002"
    assert ids["DJPROCESS_CONTROL_TIMEOUT_SECONDS"] == "djprocess.E008"


def test_the_0_0_1_functions_read_the_settings() -> None:
    assert (conf.process_queue(), conf.supervisor_queue()) == ("processes", "supervisor")
    with override_settings(
        DJPROCESS_PROCESS_QUEUE="jobs",
        DJPROCESS_SUPERVISOR_QUEUE="watch",
        DJPROCESS_KILL_TERM_RETRIES=5,
        DJPROCESS_KILL_TERM_WAIT_SECONDS=1,
        DJPROCESS_CONTROL_TIMEOUT_SECONDS=2,
    ):
        assert conf.process_queue() == "jobs"
        assert conf.supervisor_queue() == "watch"
        assert conf.kill_term_retries() == 5
        assert conf.kill_term_wait_seconds() == 1.0
        assert conf.control_timeout_seconds() == 2.0


def test_distinct_queues_is_e003_only_for_two_valid_equal_queues() -> None:
    assert conf.distinct_queues() == []
    with override_settings(DJPROCESS_SUPERVISOR_QUEUE="processes"):
        (message,) = conf.distinct_queues()
    assert message.id == "djprocess.E003"
    assert "'processes'" in message.msg
    with override_settings(DJPROCESS_PROCESS_QUEUE="", DJPROCESS_SUPERVISOR_QUEUE=""):
        assert conf.distinct_queues() == []  # E001 and E002 say it
