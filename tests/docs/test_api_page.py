"""The "Public API and stability" page and the modules' ``__all__`` say the same thing.

Every module the page lists (a definition-list term such as ````djprocess.run.launch````)
defines ``__all__``; every name in an ``__all__`` exists in its module; and a name the page
gives as public for a module (````claim()```` under ````djprocess.run.runner````) is in that
module's ``__all__``.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path
from types import ModuleType

import pytest

PAGE = Path(__file__).resolve().parents[2] / "docs" / "reference" / "api.rst"
#: A definition-list term naming modules, and the indented body under it.
ENTRY = re.compile(r"^(``djprocess[\w.]*``(?:, ``djprocess[\w.]*``)*)\n((?:    .*\n)+)", re.M)
LITERAL = re.compile(r"``([A-Za-z_]\w*)(?:\(\))?``")


def _entries() -> dict[tuple[str, ...], list[str]]:
    """``{(module, ...): [names written as literals in the body]}``."""
    entries = {}
    for term, body in ENTRY.findall(PAGE.read_text()):
        modules = tuple(re.findall(r"``([\w.]+)``", term))
        entries[modules] = LITERAL.findall(body)
    return entries


ENTRIES = _entries()
MODULES = sorted({module for modules in ENTRIES for module in modules})


def test_the_page_lists_the_modules() -> None:
    # The pattern finds the entries, or the tests below prove nothing.
    assert {"djprocess.models", "djprocess.run.launch", "djprocess_celery.backend"} <= set(MODULES)


def _module(name: str) -> ModuleType:
    return importlib.import_module(name)


@pytest.mark.parametrize("name", MODULES)
def test_every_listed_module_has_an_all_of_names_it_has(name: str) -> None:
    module = _module(name)
    public = getattr(module, "__all__", None)
    assert isinstance(public, list | tuple), f"{name} has no __all__"
    assert [n for n in public if not hasattr(module, n)] == []
    assert len(set(public)) == len(public)


@pytest.mark.parametrize("modules", sorted(ENTRIES), ids=", ".join)
def test_what_the_page_calls_public_is_in_all(modules: tuple[str, ...]) -> None:
    loaded = [_module(name) for name in modules]
    missing = [
        name
        for name in ENTRIES[modules]
        # A literal that is no attribute of these modules is prose (``DJPROCESS_*``...).
        if any(hasattr(module, name) for module in loaded)
        and not any(name in module.__all__ for module in loaded)
    ]
    assert missing == []


def test_a_name_left_out_of_all_is_caught() -> None:
    from djprocess.run import runner

    # record_end exists but is private: the page must not call it public.
    assert hasattr(runner, "record_end")
    assert "record_end" not in runner.__all__
