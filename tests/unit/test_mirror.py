"""The unit tests mirror the packages, module for module.

The convention:

* a module ``src/<pkg>/<path>/<name>.py`` is tested in ``tests/unit/<pkg>/<path>/test_<name>.py``
  and/or ``tests/unit/<pkg>/<path>/test_<name>_<aspect>.py`` (``test_store_rollback.py`` for
  ``logs/_store.py``); a private module ``_name.py`` maps to ``test_name*.py`` the same way
  (``_django.py``: ``test_django.py``);
* a package's ``__init__.py``, ``src/<pkg>/<path>/<sub>/__init__.py``, maps to
  ``tests/unit/<pkg>/<path>/<sub>/test_<sub>*.py`` (``src/djprocess/logs/__init__.py``:
  ``tests/unit/djprocess/logs/test_logs*.py``; ``src/djprocess/__init__.py``:
  ``tests/unit/djprocess/test_djprocess*.py``);
* a test file whose name fits several modules belongs to the longest name
  (``test_executor_loader.py`` would be ``executor_loader.py``'s, not ``executor.py``'s);
* pytest imports the test files by basename (the default ``prepend`` import mode, no
  ``__init__.py`` in ``tests/unit``): two test files never share a basename, so a module
  whose name is taken elsewhere is tested in ``test_<name>_<aspect>.py`` (``test_conf_celery.py``
  for ``djprocess_celery/conf.py``, next to ``djprocess/test_conf.py``);
* every test file under ``tests/unit/<pkg>/`` belongs to an existing module: no orphans.
  Helpers that are not test files (``conftest.py``, ``*_helpers.py``, ``log_child.py``,
  ``recording_backend.py``) may sit anywhere;
* the test files directly in ``tests/unit/`` are about the project as a whole
  (:data:`PROJECT_TESTS`);
* a module without a test file of its own is listed in :data:`EXEMPT` with the reason; an
  entry must name an existing module that has no test file (no stale entries). Not listed,
  because there is nothing in them to test: migrations (``makemigrations`` writes them; the
  data migrations are tested with the operations they run, and in ``tests/upgrade``), and
  modules with no code but a docstring (the ``__init__.py`` of a package that only documents
  it).

``tests/integration``, ``tests/property``, ``tests/docs`` and ``tests/upgrade`` are organised
by scenario (a fault, a property, a docs page, an upgrade), not by module, and are not
mirrored.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src"
UNIT = ROOT / "tests" / "unit"
PACKAGES = (
    "djprocess",
    "djprocess_celery",
    "djprocess_subprocess",
    "djprocess_gvisor",
    "djprocess_example",
)

#: The test files directly in tests/unit: the project as a whole.
PROJECT_TESTS = {
    "test_docs_settings.py",
    "test_layout.py",
    "test_mirror.py",
    "test_release_notes.py",
}

#: Module (as ``src/``-relative path) → why it has no test file of its own.
EXEMPT = {
    "djprocess/__init__.py": "only __version__",
    "djprocess/admin/__init__.py": "only re-exports",
    "djprocess/logs/__init__.py": "only re-exports",
    "djprocess/exceptions.py": (
        "exception classes only: each message is asserted by the tests of the code raising it"
    ),
    "djprocess/logs/_context.py": "one ContextVar and its getter",
    "djprocess/backends/immediate.py": (
        "no test file of its own: it is the backend of the nocelery session "
        "(djprocess_test_settings.nocelery) and runs the processes of test_rerun.py's "
        "`immediate` fixture and of test_signals.py"
    ),
    "djprocess_celery/apps.py": (
        "AppConfig: ready() imports the modules that register tasks, control commands and receivers"
    ),
    "djprocess_celery/poolchild.py": (
        "no unit test yet (covered by tests/integration: every prefork pool child runs it, "
        "e.g. test_main_job.py)"
    ),
    "djprocess_subprocess/apps.py": "AppConfig with no code",
    "djprocess_subprocess/executor.py": (
        "the executor contract: a Protocol and two dataclasses (implemented by native.py, "
        "tested in test_native.py, and djprocess_gvisor.executor)"
    ),
    "djprocess_subprocess/executor_loader.py": (
        "one line, executor_class(path)(**options), run by SubprocessWorkerBackend "
        "(tests/unit/djprocess_subprocess/test_backend.py)"
    ),
    "djprocess_gvisor/apps.py": "AppConfig with no code",
    "djprocess_example/__init__.py": "only re-exports the Celery app",
    "djprocess_example/__main__.py": (
        "no unit test yet (tests/integration/test_operators_browser.py runs its runserver "
        "and manage commands; .ci/run runs its demo command)"
    ),
    "djprocess_example/admin.py": "admin registrations of the example models",
    "djprocess_example/apps.py": "AppConfig: ready() connects the notifications receiver",
    "djprocess_example/celery.py": "the example's Celery app",
    "djprocess_example/demo.py": (
        "no unit test yet (run end to end by .ci/run: python -m djprocess_example demo, on "
        "each backend)"
    ),
    "djprocess_example/models.py": "the example models every unit test runs on (make_process)",
    "djprocess_example/presets.py": "data: the example processes the demo server offers",
    "djprocess_example/settings.py": "settings of the demo",
    "djprocess_example/urls.py": "URL patterns only",
    "djprocess_example/workers.py": (
        "no unit test yet (covered by tests/integration: it starts and stops every worker there)"
    ),
}


def _has_code(path: Path) -> bool:
    """False for an empty module or one with only a docstring."""
    body = ast.parse(path.read_text()).body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]
    return bool(body)


def _modules() -> dict[str, Path]:
    """``src``-relative path → the module, for every module the convention covers."""
    found = {}
    for package in PACKAGES:
        for path in sorted((SRC / package).rglob("*.py")):
            if "migrations" in path.relative_to(SRC).parts or not _has_code(path):
                continue
            found[path.relative_to(SRC).as_posix()] = path
    return found


def _test_place(module: str) -> tuple[str, str]:
    """Where ``module``'s tests live: (directory under tests/unit, name after ``test_``)."""
    path = Path(module)
    if path.name == "__init__.py":
        return path.parent.as_posix(), path.parent.name
    return path.parent.as_posix(), path.stem.strip("_")


def _owner(test_file: Path, modules: dict[str, Path]) -> str | None:
    """The module a test file under tests/unit/<pkg>/ belongs to, or None (an orphan)."""
    directory = test_file.parent.relative_to(UNIT).as_posix()
    name = test_file.stem.removeprefix("test_")
    fits = [
        (len(stem), module)
        for module in modules
        for place, stem in [_test_place(module)]
        if place == directory and (name == stem or name.startswith(stem + "_"))
    ]
    return max(fits)[1] if fits else None


MODULES = _modules()
TEST_FILES = sorted(
    path
    for package in PACKAGES
    if (UNIT / package).exists()
    for path in (UNIT / package).rglob("test_*.py")
)
OWNERS = {test_file: _owner(test_file, MODULES) for test_file in TEST_FILES}
TESTED = set(OWNERS.values())


def test_the_mapping_follows_the_convention() -> None:
    assert _test_place("djprocess/logs/_store.py") == ("djprocess/logs", "store")
    assert _test_place("djprocess/logs/__init__.py") == ("djprocess/logs", "logs")
    assert _test_place("djprocess/__init__.py") == ("djprocess", "djprocess")
    assert _test_place("djprocess_example/__main__.py") == ("djprocess_example", "main")
    modules = {
        "djprocess_subprocess/executor.py": Path(),
        "djprocess_subprocess/executor_loader.py": Path(),
    }
    loader = UNIT / "djprocess_subprocess" / "test_executor_loader_x.py"
    assert _owner(loader, modules) == "djprocess_subprocess/executor_loader.py"
    assert _owner(UNIT / "djprocess_subprocess" / "test_executors.py", modules) is None


def test_the_mirror_sees_the_modules_and_the_test_files() -> None:
    assert "djprocess/logs/_store.py" in MODULES
    assert "djprocess/management/commands/djprocess_tail.py" in MODULES
    assert "djprocess/migrations/0001_initial.py" not in MODULES
    assert "djprocess/run/__init__.py" not in MODULES  # only a docstring
    assert OWNERS[UNIT / "djprocess/logs/test_store_rollback.py"] == "djprocess/logs/_store.py"


def test_every_test_file_belongs_to_a_module() -> None:
    orphans = [path.relative_to(UNIT).as_posix() for path, owner in OWNERS.items() if not owner]
    assert orphans == []


def test_the_test_files_directly_in_tests_unit_are_about_the_project() -> None:
    assert {path.name for path in UNIT.glob("test_*.py")} == PROJECT_TESTS


def test_no_two_test_files_share_a_basename() -> None:
    names = [path.name for path in UNIT.rglob("test_*.py")]
    assert sorted(name for name in set(names) if names.count(name) > 1) == []


def test_every_module_has_a_test_file_or_is_exempt() -> None:
    untested = sorted(set(MODULES) - TESTED - set(EXEMPT))
    assert untested == []


def test_every_exemption_is_of_an_untested_module_and_gives_a_reason() -> None:
    assert sorted(set(EXEMPT) - set(MODULES)) == []  # names a module the mirror covers
    assert sorted(set(EXEMPT) & TESTED) == []  # it has a test file: drop the entry
    assert [module for module, reason in EXEMPT.items() if not reason.strip()] == []
