"""The architecture and public-API pages name real modules and functions: they cannot drift
from the code unnoticed."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[2] / "docs"
#: Where a dotted name of the architecture diagram starts: a backend package (absolute) or
#: a module of the core (relative to ``djprocess``).
ROOTS = (
    r"djprocess_\w+|djprocess|run|supervision|logs|backends|lifecycle|rerun|_transitions|_dispatch"
)
DOTTED = re.compile(rf"(?<![\w.])(?:{ROOTS})\.[A-Za-z_][\w.]*[A-Za-z_]")


def _resolve(name: str) -> object:
    """Import the longest module prefix of ``name``, then follow the attributes."""
    if not name.split(".")[0].startswith("djprocess"):
        name = f"djprocess.{name}"
    parts = name.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            found: object = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for attribute in parts[cut:]:
            found = getattr(found, attribute)
        return found
    raise ModuleNotFoundError(name)


def _names(page: str) -> list[str]:
    return sorted(set(DOTTED.findall((DOCS / page).read_text())))


@pytest.mark.parametrize("page", ["architecture.rst", "reference/api.rst"])
def test_every_dotted_name_resolves(page: str) -> None:
    names = _names(page)
    assert len(names) > 10  # the pattern finds the names, or this test proves nothing
    unresolved = []
    for name in names:
        try:
            _resolve(name)
        except (ImportError, AttributeError) as exc:
            unresolved.append(f"{name}: {exc}")
    assert unresolved == []


def test_a_wrong_name_is_caught() -> None:
    with pytest.raises(AttributeError):
        _resolve("run.runner.no_such_function")
    with pytest.raises(ModuleNotFoundError):
        _resolve("djprocess_nothing.here")
