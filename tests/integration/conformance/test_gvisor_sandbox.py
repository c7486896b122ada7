"""What a sandboxed run cannot do, next to the same run without a sandbox (which can: the
probe itself works).

The ``escape`` example process tries to connect to Redis and PostgreSQL on 127.0.0.1, to
write host files (in the project's code, in the host's /tmp, in /) and counts the
processes it sees.
"""

from __future__ import annotations

import os
from typing import Any

import pytest

from djprocess_example.models import ExampleProcess

from ..conftest import log_messages, wait_finished
from .conftest import BackendCluster
from .test_backend_contract import PICKUP, launch

pytestmark = [pytest.mark.integration, pytest.mark.celery]


def probe(bc: BackendCluster) -> tuple[Any, dict[str, str]]:
    process = wait_finished(launch("escape"), PICKUP + 20)
    assert process.status == "succeeded", process.exception
    results = dict(m.split(": ", 1) for m in log_messages(process) if ": " in m)
    return process, results


@pytest.mark.parametrize("backend_cluster", ["gvisor"], indirect=True)
def test_a_sandboxed_run_cannot_reach_the_host(bc: BackendCluster) -> None:
    process, results = probe(bc)
    assert results["tcp 127.0.0.1:6379"].startswith("refused")
    assert results["tcp 127.0.0.1:5432"].startswith("refused")
    project_file, tmp_file, root_file = ExampleProcess.escape_paths(process)
    assert results[f"write {project_file}"].startswith("refused")  # read-only project
    assert results[f"write {root_file}"].startswith("refused")  # read-only root
    assert results[f"write {tmp_file}"] == "written"  # its own /tmp ...
    for path in (project_file, tmp_file, root_file):
        assert not os.path.exists(path), path  # ... which is not the host's
    # Its own PID namespace: the runner and nothing of the host.
    assert int(results["processes visible"]) <= 3


@pytest.mark.parametrize("backend_cluster", ["subprocess"], indirect=True)
def test_the_same_run_without_a_sandbox_reaches_the_host(bc: BackendCluster) -> None:
    process, results = probe(bc)
    try:
        assert results["tcp 127.0.0.1:6379"] == "connected"
        assert results["tcp 127.0.0.1:5432"] == "connected"
        assert results[f"write {ExampleProcess.escape_paths(process)[1]}"] == "written"
        assert int(results["processes visible"]) > 10
    finally:
        for path in ExampleProcess.escape_paths(process):
            if os.path.exists(path):
                os.unlink(path)
