"""One set of workers per backend (Celery, subprocess, gVisor) on Redis and PostgreSQL.

The conformance suite runs the same contract against each backend; a case is skipped only
where the backend's ``supports_*`` flags say it cannot keep it.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import pytest
from django.test import override_settings

from ..conftest import Broker, Cluster, wait_for

#: Backend name (the example's ``EXAMPLE_WORKER_BACKEND``) → the settings it stands for.
BACKENDS: dict[str, dict[str, str]] = {
    "celery": {"DJPROCESS_WORKER_BACKEND": "djprocess_celery.backend.CeleryWorkerBackend"},
    "subprocess": {
        "DJPROCESS_WORKER_BACKEND": "djprocess_subprocess.backend.SubprocessWorkerBackend",
        "DJPROCESS_SUBPROCESS_EXECUTOR": "djprocess_subprocess.native.NativeExecutor",
    },
    "gvisor": {
        "DJPROCESS_WORKER_BACKEND": "djprocess_subprocess.backend.SubprocessWorkerBackend",
        "DJPROCESS_SUBPROCESS_EXECUTOR": "djprocess_gvisor.executor.GvisorExecutor",
    },
}


HERE = Path(__file__).parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Redis only: the contract does not depend on the broker (the rest of tests/integration
    runs on both). The RabbitMQ variants of these tests are deselected, not skipped."""
    dropped = [
        item
        for item in items
        if HERE in item.path.parents
        and getattr(getattr(item, "callspec", None), "params", {}).get("broker") != "redis"
    ]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = [item for item in items if item not in dropped]


@dataclass
class BackendCluster:
    """Workers of one backend, and how to find what its runs left on the host."""

    name: str
    cluster: Cluster
    runsc_root: Path
    backend: Any = None

    def run_processes(self) -> list[psutil.Process]:
        """Live host processes started for this cluster's runs (they carry its tag in
        their environment), other than the workers and their pool children."""
        workers = {w.pid for w in self.cluster.workers}
        workers |= {pid for w in self.cluster.workers for pid in w.pool_pids()}
        found = []
        for proc in psutil.process_iter(["pid"]):
            if proc.pid in workers or proc.pid == os.getpid():
                continue
            try:
                tagged = proc.environ().get("EXAMPLE_CLUSTER_TAG") == self.cluster.tag
                if tagged and proc.status() != psutil.STATUS_ZOMBIE:
                    found.append(proc)
            except (psutil.Error, OSError):
                continue
        return found

    def sandboxes(self) -> list[str]:
        """``runsc list`` of this cluster's runsc root (gVisor), else []."""
        if self.name != "gvisor" or not self.runsc_root.exists():
            return []
        listed = subprocess.run(
            ["runsc", "--root", str(self.runsc_root), "list", "-quiet"],
            capture_output=True,
            text=True,
            check=False,
        )
        return listed.stdout.split()

    def assert_clean(self, timeout: float = 15.0) -> None:
        """Nothing of a run is left: no process, no sandbox; the pools are full."""
        self.cluster.assert_healthy()
        wait_for(
            lambda: not self.run_processes() and not self.sandboxes(),
            timeout,
            f"nothing of the runs left (processes: {self.run_processes()}, "
            f"sandboxes: {self.sandboxes()})",
        )


@pytest.fixture(scope="package", params=sorted(BACKENDS))
def backend_cluster(
    request: pytest.FixtureRequest, broker: Broker, pg_database: str, state_dir: Path
) -> Iterator[BackendCluster]:
    name = request.param
    tag = f"conformance-{name}"
    runsc_root = state_dir / "runsc"  # the example's DJPROCESS_GVISOR_RUNSC_ROOT
    cluster = Cluster(
        broker,
        pg_database,
        state_dir,
        tag=tag,
        process_concurrency=2,
        supervisor_concurrency=1,
        extra_env={"EXAMPLE_WORKER_BACKEND": name, "EXAMPLE_CLUSTER_TAG": tag},
    )
    found = BackendCluster(name, cluster, runsc_root)
    extra = dict(BACKENDS[name])
    if name == "gvisor":
        extra["DJPROCESS_GVISOR_RUNSC_ROOT"] = str(runsc_root)
    try:
        cluster.start()
        with override_settings(**extra):
            from djprocess.backends import get_backend

            found.backend = get_backend()
        yield found
    finally:
        left = cluster.stop()
        assert not left, f"processes left alive after stopping the workers: {left}"


@pytest.fixture
def bc(backend_cluster: BackendCluster) -> Iterator[BackendCluster]:
    """The backend's workers with the test process's settings pointing at them; checked
    clean after the test."""
    extra = dict(BACKENDS[backend_cluster.name])
    if backend_cluster.name == "gvisor":
        extra["DJPROCESS_GVISOR_RUNSC_ROOT"] = str(backend_cluster.runsc_root)
    with backend_cluster.cluster.settings(), override_settings(**extra):
        yield backend_cluster
        backend_cluster.assert_clean()
