"""``djprocess_subprocess.conf``: ``DJPROCESS_SUBPROCESS_EXECUTOR``, declared as needing a
backend that runs through an executor, and 0.0.1's ``executor_class()``."""

from __future__ import annotations

import pytest
from django.test import override_settings

from djprocess.conf import declared
from djprocess_subprocess import conf
from djprocess_subprocess.native import NativeExecutor


def test_the_setting_is_declared_as_needing_an_executor() -> None:
    assert conf.SUBPROCESS_EXECUTOR in declared()
    assert conf.SUBPROCESS_EXECUTOR.requires == (conf.NEEDS_EXECUTOR,)
    assert conf.NEEDS_EXECUTOR.capability == "supports_executor"


def test_executor_class_imports_the_configured_path() -> None:
    assert conf.executor_class() is NativeExecutor
    with (
        override_settings(DJPROCESS_SUBPROCESS_EXECUTOR="no_such_module.Executor"),
        pytest.raises(ImportError),
    ):
        conf.executor_class()
    assert conf.executor_class("djprocess_subprocess.native.NativeExecutor") is NativeExecutor
