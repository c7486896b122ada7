"""``python -m djprocess_subprocess.runner``: the run's own interpreter, started for real.

In ``--relay`` mode (a sandbox: no database) the process arrives on stdin and everything it
writes leaves as JSON lines on stdout; the test reads them as the supervisor does.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable

import pytest
from django.conf import settings
from django.core import serializers

from djprocess_example.models import ExampleProcess

LABEL = "djprocess_example.exampleprocess"


def runner(
    *args: str, stdin: bytes = b"", settings_module: str | None = None
) -> subprocess.CompletedProcess[bytes]:
    env = dict(os.environ)
    env.pop("DJANGO_SETTINGS_MODULE", None)
    if settings_module is not None:
        env["DJANGO_SETTINGS_MODULE"] = settings_module
    return subprocess.run(
        [sys.executable, "-m", "djprocess_subprocess.runner", *args],
        input=stdin,
        env=env,
        capture_output=True,
        timeout=120,
        check=False,
    )


def test_a_relayed_run_sends_its_lines_and_outcome_as_json(
    make_process: Callable[..., ExampleProcess],
) -> None:
    process = make_process("succeed", lines=2)
    done = runner(
        LABEL,
        str(process.pk),
        "--relay",
        stdin=serializers.serialize("json", [process]).encode(),
        settings_module=settings.SETTINGS_MODULE,
    )

    assert done.returncode == 0, done.stderr.decode()
    messages = [json.loads(line) for line in done.stdout.decode().splitlines()]
    logged = [entry["message"] for m in messages for entry in m.get("log", [])]
    assert "working on item 2/2" in logged
    assert [m["progress"] for m in messages if "progress" in m] == [[0, 2], [1, 2], [2, 2]]
    assert messages[-1] == {"result": "succeeded"}  # the outcome, after everything else


def test_a_relayed_run_refuses_another_process_on_stdin(
    make_process: Callable[..., ExampleProcess],
) -> None:
    process = make_process()
    done = runner(
        LABEL,
        str(process.pk + 1),
        "--relay",
        stdin=serializers.serialize("json", [process]).encode(),
        settings_module=settings.SETTINGS_MODULE,
    )
    assert done.returncode == 1
    # Relayed like everything the run writes: stderr arrives as {"err": ...} on stdout.
    errors = [json.loads(line).get("err", "") for line in done.stdout.decode().splitlines()]
    assert any(f"not {LABEL} pk={process.pk + 1}" in text for text in errors)


@pytest.mark.parametrize("args", [("x.y", "1"), ("x.y", "1", "--relay")])
def test_the_runner_needs_django_settings(args: tuple[str, ...]) -> None:
    done = runner(*args)
    assert done.returncode == 1
    assert "DJANGO_SETTINGS_MODULE is not set" in done.stderr.decode()
