"""The version, the changelog and the install instructions agree (what a release publishes)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]


def test_the_version_is_0_1_0() -> None:
    assert VERSION == "0.1.0"


def test_the_changelog_has_one_section_for_the_version_and_no_other_unreleased() -> None:
    text = (ROOT / "CHANGELOG.md").read_text()
    headings = re.findall(r"^## \[([^\]]+)\]", text, re.M)
    assert headings == [VERSION, "0.0.1"]
    assert "issue" not in text.lower()  # written for users, not for our tracker


def test_install_instructions_name_this_version() -> None:
    for page in ("README.md", "docs/tutorial.rst"):
        text = (ROOT / page).read_text()
        assert f"djprocess-{VERSION}-py3-none-any.whl" in text, page
        assert '"djprocess>=0.1"' in text, page
        assert "pip install djprocess " not in text, page  # that installs 0.0.1
