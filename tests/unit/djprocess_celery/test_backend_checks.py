"""``djprocess_celery.backend.CeleryWorkerBackend.check``: each Celery configuration that
breaks djprocess is reported by ``manage.py check`` with its own stable id, a message naming
the setting and the bad value, and a hint with the fix; and the backend without its app
(``djprocess_celery.E003``) is refused."""

from __future__ import annotations

import pytest
from django.apps import apps
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import override_settings
from unit_helpers import CelerySetting

from djprocess.exceptions import BackendError
from djprocess_example.models import ExampleProcess

# run_checks() includes Django's model checks, which open a connection (JSONField support).
pytestmark = pytest.mark.django_db


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


@pytest.mark.celery
def test_the_celery_backend_without_its_app_is_refused() -> None:
    from djprocess_celery.backend import CeleryWorkerBackend

    installed = [a.name for a in apps.get_app_configs() if a.name != "djprocess_celery"]
    with override_settings(INSTALLED_APPS=installed):
        ids = [m.id for m in CeleryWorkerBackend.check()]
        assert "djprocess_celery.E003" in ids
        process = ExampleProcess.objects.create(kind="succeed")
        with pytest.raises(BackendError, match="djprocess_celery is not in INSTALLED_APPS"):
            CeleryWorkerBackend().dispatch(process)
