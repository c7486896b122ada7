"""djprocess.W001: a log model's process foreign key should not have an index of its own."""

from __future__ import annotations

import pytest
from django.core import checks
from django.db import connections, models
from django.test.utils import isolate_apps

from djprocess.logs.checks import check_log_models, redundant_fk_indexes
from djprocess.models import BaseProcessLog
from djprocess_example.models import ExampleProcess, ExampleProcessLog


def test_a_default_foreign_key_index_is_reported() -> None:
    with isolate_apps("djprocess_example") as isolated:

        class IndexedLog(BaseProcessLog):
            process = models.ForeignKey(ExampleProcess, on_delete=models.CASCADE, related_name="+")

            class Meta(BaseProcessLog.Meta):
                app_label = "djprocess_example"

        class UnindexedLog(BaseProcessLog):
            process = models.ForeignKey(
                ExampleProcess, on_delete=models.CASCADE, related_name="+", db_index=False
            )

            class Meta(BaseProcessLog.Meta):
                app_label = "djprocess_example"

        assert redundant_fk_indexes(IndexedLog) == ["process"]
        assert redundant_fk_indexes(UnindexedLog) == []
        found = check_log_models([isolated.get_app_config("djprocess_example")])
    assert [(m.id, m.obj) for m in found] == [("djprocess.W001", IndexedLog)]
    assert "db_index=False" in (found[0].hint or "")


def test_the_example_log_model_passes_and_the_check_is_registered() -> None:
    assert redundant_fk_indexes(ExampleProcessLog) == []
    assert check_log_models() == []
    assert check_log_models in checks.registry.registry.get_checks(include_deployment_checks=False)


def test_a_log_model_on_an_untested_database_is_warned_about(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The vendor is all the check reads: a connection that says it is MySQL.
    monkeypatch.setattr(connections["default"], "vendor", "mysql")
    found = [m for m in check_log_models() if m.id == "djprocess.W002"]
    assert [m.obj for m in found] == [ExampleProcessLog]
    assert "written on a mysql database" in found[0].msg
    assert found[0].level == checks.WARNING
