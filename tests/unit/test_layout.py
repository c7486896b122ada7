"""The package layout keeps its promises: no import circle, backends use only public API, and
every public module says what is public in it (``__all__``).

The import graph is read from the sources (``ast``), counting every import a module makes:
at module level and inside functions, but not those under ``if TYPE_CHECKING:`` (they never
run). A circle hidden in a function-local import is still a circle to a reader.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"
PACKAGES = ("djprocess", "djprocess_celery", "djprocess_subprocess", "djprocess_gvisor")


def _module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (SRC / package).rglob("*.py"):
            if "migrations" not in path.parts:
                found[_module_name(path)] = path
    return found


MODULES = _modules()


def _is_type_checking(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def _imports(tree: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    """Every import statement under ``tree``, skipping ``if TYPE_CHECKING:`` blocks."""
    found: list[ast.Import | ast.ImportFrom] = []
    for child in ast.iter_child_nodes(tree):
        if _is_type_checking(child):
            continue
        if isinstance(child, ast.Import | ast.ImportFrom):
            found.append(child)
        found += _imports(child)
    return found


def _targets(name: str, path: Path) -> set[str]:
    """The project modules that module ``name`` (at ``path``) imports."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    targets = set()
    for node in _imports(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets |= {alias.name for alias in node.names}
            continue
        base = node.module or ""
        if node.level:
            parts = package.split(".")[: len(package.split(".")) - (node.level - 1)]
            base = ".".join([*parts, base] if base else parts)
        for alias in node.names:
            full = f"{base}.{alias.name}"
            targets.add(full if full in MODULES else base)
    return {target for target in targets if target in MODULES and target != name}


GRAPH = {name: _targets(name, path) for name, path in MODULES.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_graph_sees_function_local_imports() -> None:
    # models imports the lifecycle at module level, the sweeper imports models in a function:
    # both edges must be in the graph, or the circle test below would prove nothing.
    assert "djprocess.lifecycle" in GRAPH["djprocess.models"]
    assert "djprocess.models" in GRAPH["djprocess.supervision.sweeper"]


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_circle() -> None:
    assert _cycles(GRAPH) == []


def _private(module: str) -> bool:
    return any(part.startswith("_") and part != "__init__" for part in module.split("."))


@pytest.mark.parametrize(
    "package", ["djprocess_celery", "djprocess_subprocess", "djprocess_gvisor"]
)
def test_backend_packages_import_only_public_core_modules(package: str) -> None:
    reached = {
        (name, target)
        for name, targets in GRAPH.items()
        if name.split(".")[0] == package
        for target in targets
        if target.split(".")[0] == "djprocess" and _private(target)
    }
    assert reached == set()


def test_the_core_never_imports_a_backend_package() -> None:
    reached = {
        (name, target)
        for name, targets in GRAPH.items()
        if name.split(".")[0] == "djprocess"
        for target in targets
        if target.split(".")[0] != "djprocess"
    }
    assert reached == set()


def _imported_names(package: str) -> set[tuple[str, str, str]]:
    """``(importer, module, name)`` for each ``from djprocess.x import name`` in ``package``,
    where ``name`` is not itself a module."""
    found = set()
    for importer, path in MODULES.items():
        if importer.split(".")[0] != package:
            continue
        for node in _imports(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and not node.level and node.module:
                if node.module.split(".")[0] != "djprocess":
                    continue
                for alias in node.names:
                    if f"{node.module}.{alias.name}" not in MODULES:
                        found.add((importer, node.module, alias.name))
    return found


@pytest.mark.parametrize(
    "package", ["djprocess_celery", "djprocess_subprocess", "djprocess_gvisor"]
)
def test_backend_packages_import_only_names_in_all(package: str) -> None:
    # A public module's private names (left out of its __all__) are private too: the
    # Public API page promises backend authors nothing else.
    import importlib

    imported = _imported_names(package)
    assert imported, f"{package} imports nothing from djprocess: the test would prove nothing"
    outside = {
        (importer, module, name)
        for importer, module, name in imported
        if name not in getattr(importlib.import_module(module), "__all__", ())
    }
    assert outside == set()


#: Public modules with no ``__all__``, and why.
WITHOUT_ALL = {
    # Settings modules are star-imported by other settings (djprocess_test_settings): an
    # __all__ would cut what they get.
    "djprocess_example.settings",
}


def _public_modules() -> dict[str, Path]:
    """Every module of the five packages whose own name has no leading ``_`` (a package's
    ``__init__``, and ``__main__``, count as public), outside ``migrations``."""
    found = {}
    for package in (*PACKAGES, "djprocess_example"):
        for path in (SRC / package).rglob("*.py"):
            private = path.name.startswith("_") and path.name not in ("__init__.py", "__main__.py")
            if "migrations" not in path.parts and not private:
                found[_module_name(path)] = path
    return found


def _defines_names(tree: ast.Module) -> bool:
    """The module defines a public name of its own (a function, class or assignment)."""
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            named = [node.name]
        elif isinstance(node, ast.Assign):
            named = [t.id for t in node.targets if isinstance(t, ast.Name)]
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            named = [node.target.id]
        else:
            continue
        if any(not name.startswith("_") or name == "__version__" for name in named):
            return True
    return False


#: The modules that must have an ``__all__``: public, and defining public names (not a
#: package that only documents itself or re-exports).
NEEDS_ALL = sorted(
    name
    for name, path in _public_modules().items()
    if name not in WITHOUT_ALL and _defines_names(ast.parse(path.read_text()))
)


def _needs_celery(module: str) -> bool:
    """Importing ``module`` imports Celery (not in the nocelery session)."""
    return module.split(".")[0] in ("djprocess_celery", "djprocess_subprocess") or (
        module == "djprocess_example.celery"
    )


@pytest.mark.parametrize(
    "module",
    [pytest.param(m, marks=pytest.mark.celery) if _needs_celery(m) else m for m in NEEDS_ALL],
)
def test_every_public_module_has_an_all_of_its_names(module: str) -> None:
    import importlib

    loaded = importlib.import_module(module)
    public = getattr(loaded, "__all__", None)
    assert isinstance(public, list), f"{module} has no __all__"
    assert [name for name in public if not hasattr(loaded, name)] == []
    assert len(set(public)) == len(public)


def test_a_module_without_all_is_caught() -> None:
    # djprocess.checks defines check functions: it must have an __all__ to pass.
    assert {"djprocess.checks", "djprocess_celery.control", "djprocess_example.views"} <= set(
        NEEDS_ALL
    )
    assert not _defines_names(ast.parse('"""Only a docstring."""\nfrom x import y\n'))
