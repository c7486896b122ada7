"""System checks that keep a run from being stranded: a process model needs a log model
(``djprocess.E016``), the Celery backend needs ``djprocess_celery`` installed
(``djprocess_celery.E003``); and ``manage.py djprocess_supervise --once``."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from django.apps import apps
from django.core.management import call_command
from django.db import models
from django.test import override_settings
from django.test.utils import isolate_apps
from unit_helpers import set_running

from djprocess import status
from djprocess.checks import check_models, log_model_errors
from djprocess.exceptions import BackendError
from djprocess.models import BaseProcess
from djprocess_example.models import ExampleProcess

pytestmark = pytest.mark.django_db


def test_installed_process_models_all_have_a_log_model() -> None:
    assert check_models() == []


@isolate_apps("djprocess_example")
def test_a_process_model_without_a_log_model_is_reported() -> None:
    class Orphan(BaseProcess):
        class Meta:
            app_label = "djprocess_example"

    (error,) = log_model_errors([Orphan])
    assert error.id == "djprocess.E016"
    assert "Orphan has no log model" in error.msg
    assert "BaseProcessLog" in error.msg


@isolate_apps("djprocess_example")
def test_a_process_model_with_a_log_model_passes() -> None:
    from djprocess.models import BaseProcessLog

    class Kept(BaseProcess):
        class Meta:
            app_label = "djprocess_example"

    class KeptLog(BaseProcessLog):
        process = models.ForeignKey(Kept, on_delete=models.CASCADE, related_name="logs")

        class Meta:
            app_label = "djprocess_example"

    assert log_model_errors([Kept]) == []


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


def test_supervise_once_sweeps_what_is_due(
    make_process: Callable[..., ExampleProcess], backend: object, capsys: pytest.CaptureFixture[str]
) -> None:
    process = make_process(timeout=timedelta(seconds=1))
    set_running(process, started_ago=timedelta(seconds=5))
    ExampleProcess.objects.filter(pk=process.pk).update(next_check_at=process.deadline_at)

    call_command("djprocess_supervise", "--once")

    assert "timed_out: 1" in capsys.readouterr().out
    assert ExampleProcess.objects.get(pk=process.pk).status == status.TIMED_OUT
