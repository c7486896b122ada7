"""The reference docs and the code name the same settings and the same system check ids.

- every ``DJPROCESS_*`` setting the library reads has a heading (and a ``.. setting::`` anchor)
  in ``docs/reference/settings.rst``, and every setting documented there is read by the code;
- every check id defined in the code has a heading (and a ``.. check::`` anchor) in
  ``docs/reference/checks.rst``, and every id documented there is defined in the code.
"""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import pytest

from djprocess.conf import DEFAULTS

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src"
DOCS = ROOT / "docs" / "reference"

# Library code: what it reads is what users may set. The example project only *sets* settings.
LIBRARY_PACKAGES = ("djprocess", "djprocess_celery", "djprocess_subprocess", "djprocess_gvisor")
EXAMPLE_PACKAGE = "djprocess_example"

SETTING_RE = re.compile(r"\bDJPROCESS_[A-Z0-9_]*[A-Z0-9]\b")
CHECK_ID_RE = re.compile(
    r"""["']((?:djprocess|djprocess_celery|djprocess_gvisor)\.[CEWI]\d{3})["']"""
)
ASSIGNED_SETTING_RE = re.compile(r"^(DJPROCESS_[A-Z0-9_]*[A-Z0-9])\s*[:=]", re.MULTILINE)


def _python_files(*packages: str) -> list[Path]:
    files = [path for package in packages for path in sorted((SRC / package).rglob("*.py"))]
    assert files, f"no Python files under {SRC} for {packages}"
    return files


def _names_in_code(pattern: re.Pattern[str], *packages: str) -> set[str]:
    found: set[str] = set()
    for path in _python_files(*packages):
        found.update(pattern.findall(path.read_text(encoding="utf-8")))
    return found


def _documented(page: Path, directive: str, name_pattern: str) -> tuple[set[str], set[str]]:
    """The names with a ``.. directive:: NAME`` anchor and those with a section heading.

    A heading is a line ````NAME```` (optionally followed by text, e.g. a title) underlined
    with a run of ``-``, ``~`` or ``^`` at least as long as the title.
    """
    text = page.read_text(encoding="utf-8")
    anchors = set(re.findall(rf"^\.\. {directive}:: ({name_pattern})\s*$", text, re.MULTILINE))
    headings: set[str] = set()
    lines = text.splitlines()
    for title, underline in itertools.pairwise(lines):
        match = re.match(rf"^``({name_pattern})``", title)
        if match and re.fullmatch(r"([-~^=])\1*", underline) and len(underline) >= len(title):
            headings.add(match.group(1))
    return anchors, headings


SETTING_NAME = r"DJPROCESS_[A-Z0-9_]*[A-Z0-9]"
CHECK_NAME = r"(?:djprocess|djprocess_celery|djprocess_gvisor)\.[CEWI]\d{3}"


def test_settings_are_read_by_the_library() -> None:
    """Sanity: the grep finds the five settings of the spec (the scan itself works)."""
    read = _names_in_code(SETTING_RE, *LIBRARY_PACKAGES)
    assert {
        "DJPROCESS_PROCESS_QUEUE",
        "DJPROCESS_SUPERVISOR_QUEUE",
        "DJPROCESS_KILL_TERM_RETRIES",
        "DJPROCESS_KILL_TERM_WAIT_SECONDS",
        "DJPROCESS_WORKER_BACKEND",
    } <= read


def test_every_setting_read_is_documented() -> None:
    read = _names_in_code(SETTING_RE, *LIBRARY_PACKAGES)
    anchors, headings = _documented(DOCS / "settings.rst", "setting", SETTING_NAME)
    assert not read - headings, f"settings read by src/ but without a heading: {read - headings}"
    assert not read - anchors, f"settings read by src/ but without an anchor: {read - anchors}"


def test_every_setting_documented_is_read() -> None:
    read = _names_in_code(SETTING_RE, *LIBRARY_PACKAGES)
    anchors, headings = _documented(DOCS / "settings.rst", "setting", SETTING_NAME)
    assert not (headings | anchors) - read, (
        f"documented but never read by src/: {(headings | anchors) - read}"
    )
    assert headings == anchors


def test_settings_table_matches_the_docs() -> None:
    """``djprocess.conf.DEFAULTS`` (the settings declared as data) is exactly the docs' list."""
    _anchors, headings = _documented(DOCS / "settings.rst", "setting", SETTING_NAME)
    assert set(DEFAULTS) == headings


def test_example_sets_only_settings_the_library_reads() -> None:
    read = _names_in_code(SETTING_RE, *LIBRARY_PACKAGES)
    assigned: set[str] = set()
    for path in _python_files(EXAMPLE_PACKAGE):
        assigned.update(ASSIGNED_SETTING_RE.findall(path.read_text(encoding="utf-8")))
    assert not assigned - read, f"example settings that nothing reads: {assigned - read}"


@pytest.mark.parametrize("name", sorted(_names_in_code(SETTING_RE, *LIBRARY_PACKAGES)))
def test_setting_section_gives_type_default_and_reader(name: str) -> None:
    """Each setting's section states its type, its default and what reads it, with an example."""
    text = (DOCS / "settings.rst").read_text(encoding="utf-8")
    start = text.index(f".. setting:: {name}\n")
    following = text.find("\n.. setting:: ", start + 1)
    section = text[start : following if following != -1 else len(text)]
    for field in (":Type:", ":Default:", ":Read by:", ".. code-block:: python"):
        assert field in section, f"{name}: section lacks {field!r}"
    assert f"{name} = " in section, f"{name}: section has no example assignment"


def test_every_check_id_is_documented() -> None:
    defined = _names_in_code(CHECK_ID_RE, *LIBRARY_PACKAGES)
    assert "djprocess.E001" in defined  # the scan itself works
    anchors, headings = _documented(DOCS / "checks.rst", "check", CHECK_NAME)
    assert not defined - headings, f"check ids without a heading: {defined - headings}"
    assert not defined - anchors, f"check ids without an anchor: {defined - anchors}"


def test_every_documented_check_id_exists() -> None:
    defined = _names_in_code(CHECK_ID_RE, *LIBRARY_PACKAGES)
    anchors, headings = _documented(DOCS / "checks.rst", "check", CHECK_NAME)
    assert not (anchors | headings) - defined, (
        f"documented check ids that the code never emits: {(anchors | headings) - defined}"
    )


def test_troubleshooting_lists_every_check_id() -> None:
    defined = _names_in_code(CHECK_ID_RE, *LIBRARY_PACKAGES)
    text = (ROOT / "docs" / "troubleshooting.rst").read_text(encoding="utf-8")
    missing = {check_id for check_id in defined if check_id not in text}
    assert not missing, f"check ids missing from docs/troubleshooting.rst: {missing}"
