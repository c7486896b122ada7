"""``manage.py djprocess_purge``: deletes old finished processes and their logs, in batches.
Runs on SQLite (default) and PostgreSQL (``--ds=djprocess_test_settings.postgres``)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone
from unit_helpers import Make

from djprocess import status
from djprocess_example.models import ExampleProcess, ExampleProcessLog


def _finished(make: Make, state: str, ago: timedelta) -> ExampleProcess:
    process = make()
    process.log("line")
    ExampleProcess.objects.filter(pk=process.pk).update(
        status=state, finished_at=timezone.now() - ago
    )
    return process


def test_purge_deletes_old_finished_processes_in_batches(
    make: Make, capsys: pytest.CaptureFixture[str]
) -> None:
    old = [_finished(make, status.SUCCEEDED, timedelta(days=40)) for _ in range(5)]
    old_failed = _finished(make, status.FAILED, timedelta(days=40))
    young = _finished(make, status.SUCCEEDED, timedelta(days=1))
    running = make()
    ExampleProcess.objects.filter(pk=running.pk).update(status=status.RUNNING)
    call_command("djprocess_purge", "--older-than", "30d", "--dry-run")
    assert "would delete 6 processes" in capsys.readouterr().out
    assert ExampleProcess.objects.count() == 8
    call_command(
        "djprocess_purge",
        *("--older-than", "30d", "--status", "succeeded", "--batch-size", "2", "--verbosity", "2"),
    )
    out = capsys.readouterr().out
    assert "deleted 5 processes and 5 log lines" in out
    batches = [line.split(": ")[1] for line in out.splitlines() if "a batch" in line]
    assert batches == ["deleted a batch of 2 processes"] * 2 + ["deleted a batch of 1 processes"]
    remaining = set(ExampleProcess.objects.values_list("pk", flat=True))
    assert remaining == {old_failed.pk, young.pk, running.pk}
    assert not ExampleProcessLog.objects.filter(process_id__in=[p.pk for p in old]).exists()
    call_command(
        "djprocess_purge", "--older-than", "2w", "--model", "djprocess_example.ExampleProcess"
    )
    assert set(ExampleProcess.objects.values_list("pk", flat=True)) == {young.pk, running.pk}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--older-than", "30"], "'30'"),
        (["--older-than", "30y"], "'30y'"),
        (["--older-than", "1d", "--status", "running"], "'running'"),
        (["--older-than", "1d", "--batch-size", "0"], "batch-size"),
        (["--older-than", "1d", "--model", "auth.user"], "auth.user"),
    ],
)
def test_purge_bad_arguments(db: None, args: list[str], message: str) -> None:
    with pytest.raises(CommandError, match=re.escape(message)):
        call_command("djprocess_purge", *args)
