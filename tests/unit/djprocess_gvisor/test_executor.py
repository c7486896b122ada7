"""``djprocess_gvisor.executor.GvisorExecutor``: what it refuses and cleans up without a
sandbox (the sandboxes themselves run in ``tests/integration/conformance``)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest

from djprocess_example.models import ExampleProcess
from djprocess_gvisor.executor import GvisorExecutor
from djprocess_subprocess.executor import RunRequest


def test_an_unknown_network_mode_is_refused_by_name(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"DJPROCESS_GVISOR_NETWORK must be one of .*'bridge'"):
        GvisorExecutor(runsc_root=str(tmp_path), network="bridge")


def test_a_sandbox_that_cannot_be_started_leaves_no_bundle_behind(
    make_process: Callable[..., ExampleProcess], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bundles = tmp_path / "bundles"
    bundles.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(bundles))  # where mkdtemp makes the bundle
    executor = GvisorExecutor(
        runsc_path=str(tmp_path / "no-runsc"), runsc_root=str(tmp_path / "root")
    )
    process = make_process()

    with pytest.raises(FileNotFoundError):
        executor.launch(RunRequest(process=process, tag="t", parent_pid=os.getpid()))

    assert list(bundles.iterdir()) == []
    assert (tmp_path / "root").is_dir()  # made 0700 for runsc's state
