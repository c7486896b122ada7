"""The code of the docs' testing page and signals reference, run in the tutorial's project.

``tutorial_project/`` is the project the tutorial builds (``django-admin startproject``, the
``exports`` app, its settings and models, word for word). Every code block of the pages below
whose first line is a comment naming a file (``# exports/test_processes.py``) is written to
that file (blocks naming the same file are appended in order), then pytest runs the project's
tests in a subprocess, as a user would: every test the pages show must pass.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
DOCS = HERE.parent.parent / "docs"
PAGES = ("howto/testing.rst", "reference/signals.rst")
BLOCK = re.compile(r"\.\. code-block:: (python|toml)\n\n((?:   .*\n|\n)+)")
PATH = re.compile(r"# ([\w/]+\.(?:py|toml))\n")


def files_from_docs() -> dict[str, str]:
    """``{relative path: content}`` from the pages' code blocks that name a file."""
    files: dict[str, str] = {}
    for page in PAGES:
        for _, block in BLOCK.findall((DOCS / page).read_text()):
            code = "\n".join(line[3:] for line in block.splitlines()).strip() + "\n"
            named = PATH.match(code)
            if named:
                path = named.group(1)
                files[path] = files.get(path, "") + ("\n\n" if path in files else "") + code
    return files


def test_the_pages_name_their_files() -> None:
    assert set(files_from_docs()) == {
        "mysite/settings_test.py",
        "pyproject.toml",
        "conftest.py",
        "exports/test_processes.py",
        "exports/receivers.py",
        "exports/apps.py",
        "exports/test_receivers.py",
    }


def test_the_docs_examples_pass_in_the_tutorial_project(tmp_path: Path) -> None:
    project = tmp_path / "tutorial"
    shutil.copytree(HERE / "tutorial_project", project)
    files = files_from_docs()
    for path, content in files.items():
        (project / path).write_text(content)
    tests = sum(len(re.findall(r"^def test_", c, re.M)) for p, c in files.items() if "test_" in p)
    assert tests >= 6

    env = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    done = subprocess.run(
        # pytest-asyncio (a dev dependency of djprocess) is no part of the user's project.
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:asyncio"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )

    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{tests} passed" in done.stdout, done.stdout
