"""Helpers for the management command tests (``tests/unit/djprocess/management``)."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError

LABEL = "djprocess_example.ExampleProcess"


def command_line_env() -> dict[str, str]:
    """``python -m django``'s environment: the test settings, importable from ``tests/``."""
    return {
        "DJANGO_SETTINGS_MODULE": settings.SETTINGS_MODULE,
        "PATH": "",
        "PYTHONPATH": os.environ["PYTHONPATH"],
    }


def run(*args: Any, **options: Any) -> tuple[int, str]:
    """Call a command; returns (exit code, stdout). The exit code of a CommandError is its
    ``returncode``, as ``manage.py`` would exit with."""
    out = io.StringIO()
    try:
        call_command(*args, stdout=out, stderr=io.StringIO(), **options)
    except CommandError as exc:
        return exc.returncode, out.getvalue() + f"\nERROR: {exc}"
    return 0, out.getvalue()


def command_help(name: str) -> subprocess.CompletedProcess[str]:
    """``python -m django <name> --help``, run from the command line."""
    return subprocess.run(
        [sys.executable, "-m", "django", name, "--help"],
        capture_output=True,
        text=True,
        env=command_line_env(),
        check=False,
    )
