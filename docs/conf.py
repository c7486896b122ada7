"""Sphinx configuration for the djprocess docs.

The build needs no network: no intersphinx, no remote images, no link checks. Autodoc imports
the package with Django set up on the test settings, ``djprocess_test_settings.sqlite`` under
``tests/`` (SQLite, eager Celery).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tests"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "djprocess_test_settings.sqlite")

import django  # noqa: E402
from sphinx.application import Sphinx  # noqa: E402

django.setup()

project = "djprocess"
author = "djprocess developers"
copyright = "djprocess developers"

try:
    from importlib.metadata import version as _version

    release = _version("djprocess")
except Exception:  # pragma: no cover - building from a tree that is not installed
    release = "0.1.0"
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.viewcode",
    "myst_parser",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build"]
templates_path: list[str] = []

# Everything stays local: no intersphinx mapping (it would fetch inventories over the network).
intersphinx_mapping: dict[str, tuple[str, str | None]] = {}

autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_default_options = {
    "members": True,
    "show-inheritance": True,
}
# Django model internals (managers, DoesNotExist, ...) are not ours to document.
autodoc_inherit_docstrings = True
napoleon_google_docstring = True
napoleon_numpy_docstring = False

myst_heading_anchors = 3

html_theme = "furo"
html_title = f"djprocess {release}"
html_static_path: list[str] = []


def setup(app: Sphinx) -> None:
    """``.. setting::``/``:setting:`` and ``.. check::``/``:check:`` cross-references."""
    app.add_crossref_type(
        directivename="setting", rolename="setting", indextemplate="pair: %s; setting"
    )
    app.add_crossref_type(
        directivename="check", rolename="check", indextemplate="pair: %s; system check"
    )
