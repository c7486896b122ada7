"""``djprocess.management.lookup``: the unknown model label or pk every ``djprocess_*``
command that names a process refuses, with exit code 2."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable

import pytest
from command_helpers import LABEL, command_line_env, run

from djprocess_example.models import ExampleProcess

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "name", ["djprocess_tail", "djprocess_start", "djprocess_cancel", "djprocess_run"]
)
def test_unknown_model_label_or_pk_is_a_usage_error(
    name: str, make_process: Callable[..., ExampleProcess]
) -> None:
    code, out = run(name, "nosuch.Model", "1")
    assert code == 2
    assert (
        "unknown process model 'nosuch.Model': use one of djprocess_example.ExampleProcess" in out
    )
    code, out = run(name, "auth.User", "1")
    assert code == 2
    assert "unknown process model" in out
    code, out = run(name, LABEL, "999")
    assert (code, out.strip()) == (
        2,
        "ERROR: djprocess_example.ExampleProcess has no process with pk '999'",
    )
    code, out = run(name, LABEL, "abc")
    assert code == 2
    assert "no process with pk 'abc'" in out


def test_usage_error_exits_2_from_the_command_line() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "django", "djprocess_cancel", "nosuch.Model", "1"],
        capture_output=True,
        text=True,
        env=command_line_env(),
        check=False,
    )
    assert result.returncode == 2
    assert "unknown process model 'nosuch.Model'" in result.stderr
