"""``djprocess_celery.startup``: what a real ``celery worker`` checks and fixes as it starts."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from celery import current_app

from .conftest import Cluster, _purge, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.celery]


@pytest.fixture
def queue() -> Iterator[str]:
    """A queue of its own, deleted afterwards (a broker keeps a declared queue)."""
    name = f"djp-startup-{uuid.uuid4().hex[:8]}"
    yield name
    _purge(current_app, [name], delete=True)


def worker_command(queue: str, *options: str) -> list[str]:
    return [sys.executable, "-m", "celery", "-A", "djprocess_example.celery", "worker",
            "-Q", queue, "-P", "prefork", "-c", "1", "-l", "INFO", *options]  # fmt: skip


def test_a_worker_with_bad_djprocess_settings_refuses_to_start(
    cluster: Cluster, state_dir: Path, queue: str
) -> None:
    env = {**os.environ, **cluster.env, "EXAMPLE_PROCESS_QUEUE": queue,
           "EXAMPLE_KILL_TERM_RETRIES": "500"}  # fmt: skip
    done = subprocess.run(
        worker_command(queue, "-n", f"{queue}@%h"), env=env, capture_output=True, text=True,
        timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode != 0
    output = done.stdout + done.stderr
    assert "djprocess: this worker cannot run processes:" in output
    assert "djprocess.E004" in output


def test_a_worker_started_without_a_node_name_gets_a_unique_one(
    cluster: Cluster, state_dir: Path, queue: str
) -> None:
    env = {**os.environ, **cluster.env, "EXAMPLE_PROCESS_QUEUE": queue}
    log = state_dir / f"{queue}.log"
    with log.open("wb") as out:
        worker = subprocess.Popen(
            worker_command(queue), env=env, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        renamed = wait_for(
            lambda: "renamed celery@" in log.read_text() and log.read_text(), 60, "the rename"
        )
        assert f"to {queue}-{worker.pid}@" in renamed
        wait_for(lambda: " ready." in log.read_text(), 60, "the worker to be ready")
    finally:
        worker.terminate()
        worker.wait(timeout=60)
