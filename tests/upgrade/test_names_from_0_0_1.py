"""The public names of djprocess 0.0.1 that its users import still import, and each one that
is gone is named in the upgrade guide (``docs/howto/upgrading.rst``).

The lists are 0.0.1's public module-level names (its wheel, read once with ``ast``; nothing
is downloaded here). ``djprocess_example`` is left out: it is the demo, not an API.
"""

from __future__ import annotations

import contextlib
import importlib
from pathlib import Path

import pytest

UPGRADING = Path(__file__).resolve().parents[2] / "docs" / "howto" / "upgrading.rst"

KEPT = {
    "djprocess.admin": ["ProcessLogInline", "ProcessAdmin"],
    "djprocess.apps": ["DjprocessConfig"],
    "djprocess.models": ["DEFAULT_PROCESS_TIMEOUT", "BaseProcess", "BaseProcessLog"],
    "djprocess_celery.apps": ["DjprocessCeleryConfig"],
    "djprocess_celery.backend": ["CeleryWorkerBackend"],
    "djprocess_celery.conf": [
        "process_queue",
        "supervisor_queue",
        "kill_term_retries",
        "kill_term_wait_seconds",
    ],
    "djprocess_celery.tasks": ["run_process", "watchdog_process"],
    "djprocess_gvisor.apps": ["DjprocessGvisorConfig"],
    "djprocess_gvisor.conf": [
        "runsc_path",
        "runsc_root",
        "network_mode",
        "kill_term_retries",
        "kill_term_wait_seconds",
    ],
    "djprocess_gvisor.executor": ["GvisorExecutor"],
    "djprocess_subprocess.apps": ["DjprocessSubprocessConfig"],
    "djprocess_subprocess.backend": ["SubprocessWorkerBackend"],
    "djprocess_subprocess.conf": [
        "process_queue",
        "supervisor_queue",
        "kill_term_retries",
        "kill_term_wait_seconds",
        "executor_class",
    ],
    "djprocess_subprocess.executor": ["ExecutionHandle", "Executor"],
    "djprocess_subprocess.executor_loader": ["get_executor"],
    "djprocess_subprocess.native": ["NativeExecutor"],
    "djprocess_subprocess.runner": ["main"],
    "djprocess_subprocess.tasks": ["run_process", "watchdog_process"],
}

#: Gone in 0.1.0, each as the upgrade guide spells it.
REMOVED = [
    "djprocess.worker.get_worker_backend()",
    "djprocess_celery.kill",
    "djprocess_subprocess.kill",
    "djprocess_gvisor.kill",
    "djprocess_gvisor.bundle.build_bundle",
]


@pytest.mark.parametrize("module", sorted(KEPT))
def test_a_0_0_1_name_still_imports(module: str) -> None:
    imported = importlib.import_module(module)
    assert [name for name in KEPT[module] if not hasattr(imported, name)] == []


def test_the_0_0_1_timeout_default_is_the_same_timedelta() -> None:
    from datetime import timedelta

    from djprocess.models import DEFAULT_PROCESS_TIMEOUT, BaseProcess

    assert timedelta(minutes=20) == DEFAULT_PROCESS_TIMEOUT
    assert BaseProcess._meta.get_field("timeout").default == DEFAULT_PROCESS_TIMEOUT


@pytest.mark.parametrize("name", REMOVED)
def test_a_removed_name_is_in_the_upgrade_guide(name: str) -> None:
    assert f"``{name}``" in UPGRADING.read_text()


@pytest.mark.parametrize("name", REMOVED)
def test_a_removed_name_is_really_gone(name: str) -> None:
    # Were it back, the guide would tell users to change code that works.
    with pytest.raises(ImportError):
        importlib.import_module(name.removesuffix("()"))  # no such module
    module, _, attribute = name.removesuffix("()").rpartition(".")
    with contextlib.suppress(ImportError):  # or the module is gone too
        assert not hasattr(importlib.import_module(module), attribute)
