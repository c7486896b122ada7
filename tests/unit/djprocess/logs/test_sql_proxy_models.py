"""``djprocess.logs._sql``'s counter key: a proxy of a process model shares its concrete
model's log counter (and the migration that merges counters written under a proxy's label
before)."""

from __future__ import annotations

import importlib

import pytest
from django.apps import apps

from djprocess.models import LogCounter
from djprocess_example.models import ExampleProcess, ExampleProcessLog

merge = importlib.import_module(
    "djprocess.migrations.0002_logcounter_concrete_model_key"
).merge_proxy_counters


class ProxyProcess(ExampleProcess):
    class Meta:
        proxy = True
        app_label = "djprocess_example"


PROXY_LABEL = "djprocess_example.proxyprocess"
CONCRETE_LABEL = "djprocess_example.exampleprocess"


def sequences(pk: int) -> list[int]:
    return list(
        ExampleProcessLog.objects.filter(process_id=pk)
        .order_by("sequence")
        .values_list("sequence", flat=True)
    )


def test_proxy_and_concrete_share_one_sequence(db: None) -> None:
    process = ExampleProcess.objects.create()
    proxy = ProxyProcess.objects.get(pk=process.pk)
    assert process.log("concrete") == 1
    assert proxy.log("proxy") == 2
    assert proxy.log_many(["a", "b"]) == [3, 4]
    assert process.log("concrete again") == 5
    assert proxy.log_count() == process.log_count() == 5
    assert sequences(process.pk) == [1, 2, 3, 4, 5]
    assert list(LogCounter.objects.values_list("model", flat=True)) == [CONCRETE_LABEL]
    assert [line.sequence for line in proxy.paginate_logs("last", 2)] == [5]


def test_deleting_through_the_proxy_deletes_the_counter(db: None) -> None:
    proxy = ProxyProcess.objects.create()
    proxy.log("x")
    proxy.delete()
    assert not LogCounter.objects.exists()


@pytest.mark.parametrize("concrete_value", [None, 0, 7])
def test_migration_folds_proxy_counters_into_the_concrete_one(
    db: None, concrete_value: int | None
) -> None:
    process = ExampleProcess.objects.create()
    other = ExampleProcess.objects.create()
    # As the old code left it: lines 1..3 numbered by a counter under the proxy's label.
    LogCounter.objects.create(model=PROXY_LABEL, object_id=str(process.pk), value=3)
    ExampleProcessLog.objects.bulk_create(
        ExampleProcessLog(process=process, sequence=n, message=f"old {n}") for n in (1, 2, 3)
    )
    if concrete_value is not None:
        LogCounter.objects.create(
            model=CONCRETE_LABEL, object_id=str(process.pk), value=concrete_value
        )
    LogCounter.objects.create(model="gone_app.oldmodel", object_id="1", value=9)
    other.log("untouched")

    merge(apps, None)

    expected = max(3, concrete_value or 0)
    assert process.log_count() == expected
    assert not LogCounter.objects.filter(model=PROXY_LABEL).exists()
    assert LogCounter.objects.get(model="gone_app.oldmodel").value == 9
    assert other.log_count() == 1
    if concrete_value != 7:  # 7 would be a counter ahead of its lines: left as found
        assert ProxyProcess.objects.get(pk=process.pk).log("new") == 4
        assert sequences(process.pk) == [1, 2, 3, 4]
