"""``djprocess.checks.check_models``: a process model needs a log model (``djprocess.E016``),
or its runs would be stranded. (The Celery backend's ``djprocess_celery.E003``:
``djprocess_celery/test_backend_checks.py``; ``djprocess_supervise --once``:
``management/commands/test_djprocess_supervise.py``.)"""

from __future__ import annotations

import pytest
from django.db import models
from django.test.utils import isolate_apps

from djprocess.checks import check_models, log_model_errors
from djprocess.models import BaseProcess

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
