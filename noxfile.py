"""Nox sessions for djprocess.

``nox`` alone runs the default combination (``tests``). ``nox -l`` lists every session.

Python 3.12 and 3.13 must both be on ``PATH`` as ``python3.12`` and ``python3.13``
(with pyenv: ``PYENV_VERSION=3.12.1:3.13.0 nox ...``).

The integration tests need Redis (127.0.0.1:6379), RabbitMQ (127.0.0.1:5672, guest/guest)
and PostgreSQL (127.0.0.1:5432, database ``test``). Extra arguments after ``--`` go to pytest:
``nox -s tests -- -k watchdog -x``.
"""

from __future__ import annotations

import pathlib
import shutil
import tomllib
import zipfile

import nox

nox.needs_version = ">=2024.4.15"
nox.options.default_venv_backend = "venv"
nox.options.reuse_venv = "yes"
nox.options.sessions = ["tests"]

ROOT = pathlib.Path(__file__).parent
DEFAULT_PYTHON = "3.12"

# Tool versions, pinned so that lint and typecheck give the same answer everywhere.
RUFF = "ruff==0.17.6"
MYPY = ("mypy==2.4.1", "django-stubs==6.1.2", "celery-types==0.26.0", "types-psutil")

# ---------------------------------------------------------------------------------------------
# The supported matrix, as data: (python, django, celery).
#
# Every row was checked to install and import (pip resolver + ``import celery.worker.control``
# + an eager task round trip) in a fresh venv on 2026-11-29, with the newest patch release of
# each series: Django 6.0.10 / 6.1.3, Celery 5.4.0 / 5.5.3 / 5.6.3 / 5.7.0.
# A combination that cannot install is *left out of this list* with a comment saying why;
# nothing is ever skipped at run time.
#
# Left out: none so far. (Django 6.x needs Python >= 3.12, so 3.10/3.11 are out of scope.)
# ---------------------------------------------------------------------------------------------
MATRIX: list[tuple[str, str, str]] = [
    ("3.12", "6.0", "5.4"),
    ("3.12", "6.0", "5.5"),
    ("3.12", "6.0", "5.6"),
    ("3.12", "6.0", "5.7"),
    ("3.12", "6.1", "5.4"),
    ("3.12", "6.1", "5.5"),
    ("3.12", "6.1", "5.6"),
    ("3.12", "6.1", "5.7"),
    ("3.13", "6.0", "5.4"),
    ("3.13", "6.0", "5.5"),
    ("3.13", "6.0", "5.6"),
    ("3.13", "6.0", "5.7"),
    ("3.13", "6.1", "5.4"),
    ("3.13", "6.1", "5.5"),
    ("3.13", "6.1", "5.6"),
    ("3.13", "6.1", "5.7"),
]

OLDEST_CELERY = min(MATRIX, key=lambda row: tuple(map(int, row[2].split("."))))[2]
NEWEST_CELERY = max(MATRIX, key=lambda row: tuple(map(int, row[2].split("."))))[2]
NEWEST_DJANGO = max(MATRIX, key=lambda row: tuple(map(int, row[1].split("."))))[1]


def _pins(django: str, celery: str) -> list[str]:
    """Requirement specifiers that select the newest patch release of each series."""
    return [f"django~={django}.0", f"celery~={celery}.0"]


# Branch coverage over src/ (unit + integration + property + the PostgreSQL pass) below
# which `nox -s tests` fails. Measured at 96.8 % (e201347) when it was raised to 95 %;
# raise it as tests are added, never lower it.
COVERAGE_FLOOR = 95


def _pytest(session: nox.Session, *paths: str, coverage: bool = False) -> None:
    args = ["pytest", *paths]
    if coverage:
        args += ["--cov", "--cov-branch", "--cov-report=term-missing", "--cov-report=xml"]
    session.run(*args, *session.posargs)


# The property tests and the log tests run a second time on PostgreSQL (127.0.0.1:5432).
PG_SETTINGS = "djprocess_test_settings.postgres"
PG_PATHS = (
    "tests/property",
    "tests/unit/djprocess/logs/test_lines.py",
    "tests/unit/djprocess/logs/test_capture_loggers.py",
    "tests/unit/djprocess/management/commands/test_djprocess_purge.py",
    "tests/unit/djprocess/logs/test_store_rollback.py",
    "tests/unit/djprocess/test_rerun.py",
    "tests/unit/djprocess/test_rerun_races.py",
    "tests/unit/djprocess/test_signals.py",
    "tests/unit/djprocess/test_compat.py",
    "tests/unit/djprocess/test_testing.py",
    "tests/unit/djprocess/logs/test_sql_proxy_models.py",
    "tests/unit/djprocess/logs/test_store_sources.py",
    "tests/unit/djprocess/logs/test_uninterrupted.py",
    "tests/unit/djprocess/logs/test_connections.py",
    "tests/unit/djprocess/logs/test_sql_portable.py",
    "tests/unit/djprocess/logs/test_connections_pgbouncer.py",
    "tests/unit/djprocess/test_django.py",
    "tests/unit/djprocess/run/test_localsupervisor.py",
    "tests/unit/djprocess/run/test_child.py",
    "tests/unit/djprocess/run/test_statuswatcher.py",
)


def _pytest_pg(session: nox.Session, *, coverage: bool = False) -> None:
    args = ["pytest", *PG_PATHS, f"--ds={PG_SETTINGS}"]
    if coverage:
        args += ["--cov", "--cov-branch", "--cov-append", "--cov-report=xml"]
    session.run(*args, *session.posargs)


@nox.session(python=DEFAULT_PYTHON)
def tests(session: nox.Session) -> None:
    """The default combination: unit + integration + property tests, with branch coverage;
    then the property and log tests again on PostgreSQL; then the coverage gate."""
    session.install("-e", ".[dev]")
    _pytest(session, "tests", coverage=True)
    _pytest_pg(session, coverage=True)
    # Only run as a whole (a -k/-m selection covers less by design).
    if not session.posargs:
        session.run("coverage", "report", f"--fail-under={COVERAGE_FLOOR}", "--format=total")


@nox.session
@nox.parametrize(
    ("python", "django", "celery"),
    [nox.param(py, dj, cel, id=f"py{py}-django{dj}-celery{cel}") for py, dj, cel in MATRIX],
)
def tests_matrix(session: nox.Session, django: str, celery: str) -> None:
    """The whole test suite on one (Python, Django, Celery) combination of ``MATRIX``."""
    # Not editable: this also proves the built package (migrations, templates) is complete.
    # setuptools reuses ./build between installs: a file deleted from src/ would linger.
    shutil.rmtree(ROOT / "build", ignore_errors=True)
    session.install(".[dev]", *_pins(django, celery))
    session.run(
        "python", "-c", "import django, celery; print(django.__version__, celery.__version__)"
    )
    _pytest(session, "tests")


def _floors() -> list[str]:
    """``name==X`` for each dependency ``name>=X`` of pyproject.toml: the oldest versions
    djprocess says it works with."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    pins = []
    for requirement in config["project"]["dependencies"]:
        name, _, floor = requirement.partition(">=")
        if not (name.replace("-", "").isalnum() and floor.replace(".", "").isdigit()):
            raise ValueError(f"{requirement!r}: give each dependency as name>=X.Y")
        pins.append(f"{name}=={floor}")
    return pins


# Checks that each pin of _floors() is the version installed (argv: the pins).
FLOORS_INSTALLED = """
import sys
from importlib.metadata import version

def release(text):
    parts = [int(part) for part in text.split(".")]
    while parts and parts[-1] == 0:
        parts.pop()
    return parts

for pin in sys.argv[1:]:
    name, _, floor = pin.partition("==")
    if release(version(name)) != release(floor):
        sys.exit(f"{name} {version(name)} is installed, not {floor}")
    print(name, version(name))
"""


@nox.session(python=DEFAULT_PYTHON)
def floors(session: nox.Session) -> None:
    """Unit + property tests on the lowest versions pyproject.toml allows: each dependency
    ``name>=X`` installed as ``name==X`` (Django 6.0, Celery 5.4.0, ...)."""
    shutil.rmtree(ROOT / "build", ignore_errors=True)
    pins = _floors()
    session.install(".[dev]", *pins)
    session.run("python", "-c", FLOORS_INSTALLED, *pins)
    session.run("pytest", "tests/unit", "tests/property", "-m", "not integration", *session.posargs)


@nox.session(python=DEFAULT_PYTHON)
def integration(session: nox.Session) -> None:
    """Only tests/integration (real Redis, RabbitMQ, PostgreSQL and prefork workers)."""
    session.install("-e", ".[dev]")
    _pytest(session, "tests/integration")


@nox.session(python=DEFAULT_PYTHON)
@nox.parametrize("celery", [OLDEST_CELERY, NEWEST_CELERY])
def integration_celery(session: nox.Session, celery: str) -> None:
    """The integration suite against the oldest and the newest supported Celery."""
    session.install(".[dev]", *_pins(NEWEST_DJANGO, celery))
    session.run("python", "-c", "import celery; print('celery', celery.__version__)")
    _pytest(session, "tests/integration")


@nox.session(python=DEFAULT_PYTHON, name="property")
def property_tests(session: nox.Session) -> None:
    """Only tests/property (Hypothesis), on SQLite and then on PostgreSQL (with the log tests)."""
    session.install("-e", ".[dev]")
    _pytest(session, "tests/property")
    _pytest_pg(session)


# Settings for the unit tests without Celery: like the default test settings (tests/
# djprocess_test_settings/sqlite.py), minus djprocess_celery.
NOCELERY_SETTINGS = "djprocess_test_settings.nocelery"

# The core package imports and sets up without Celery (djprocess_celery is not installed here).
NOCELERY_SMOKE = """
import django
from django.conf import settings
settings.configure(INSTALLED_APPS=["django.contrib.contenttypes", "djprocess"])
django.setup()
import djprocess.backends, djprocess.checks, djprocess.lifecycle, djprocess.models
import djprocess.run.runner, djprocess.supervision.supervisor
print("djprocess imports without celery")
"""


@nox.session(python=DEFAULT_PYTHON)
def nocelery(session: nox.Session) -> None:
    """djprocess without Celery installed: unit tests not marked ``celery``."""
    session.install("--no-deps", ".")
    session.install(
        "django>=6.0",
        "django-model-utils>=5.0",
        "psutil>=5.9",
        "pytest>=7.0",
        "pytest-django>=4.5",
        "pytest-asyncio>=0.23",
        "hypothesis>=6.100",
    )
    session.run(
        "python",
        "-c",
        "import importlib.util, sys; "
        "sys.exit('celery is installed' if importlib.util.find_spec('celery') else 0)",
    )
    session.run("python", "-c", NOCELERY_SMOKE)
    session.run(
        "pytest", "tests/unit", "-m", "not celery", f"--ds={NOCELERY_SETTINGS}", *session.posargs
    )


@nox.session(python=DEFAULT_PYTHON)
def lint(session: nox.Session) -> None:
    """ruff check and ruff format --check."""
    session.install(RUFF)
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session(python=DEFAULT_PYTHON)
def typecheck(session: nox.Session) -> None:
    """mypy --strict (configured in pyproject.toml) over src/ with django-stubs and celery-types."""
    session.install("-e", ".[dev]", *MYPY)
    session.run("mypy", *session.posargs)


@nox.session(python=DEFAULT_PYTHON)
def docs(session: nox.Session) -> None:
    """Build the HTML docs with warnings as errors. Needs no network."""
    session.install("-e", ".[example]", "-r", "docs/requirements.txt")
    out = ROOT / "docs" / "_build" / "html"
    shutil.rmtree(out, ignore_errors=True)
    session.run(
        "sphinx-build", "-W", "--keep-going", "-b", "html", "docs", str(out),
        *session.posargs,
    )  # fmt: skip


@nox.session(python=DEFAULT_PYTHON)
def bench(session: nox.Session) -> None:
    """benchmarks/run.py: ``nox -s bench`` is the smoke size on SQLite; pass its options
    after ``--``, e.g. ``nox -s bench -- --size full --db postgres://postgres@127.0.0.1/bench``.
    """
    session.install("-e", ".[dev]")
    session.run("python", str(ROOT / "benchmarks" / "run.py"), *session.posargs)


@nox.session(python=DEFAULT_PYTHON)
def bench_load(session: nox.Session) -> None:
    """benchmarks/load.py: N processes started at once on real prefork workers (PostgreSQL,
    Redis). ``nox -s bench_load`` runs 40 of them; ``-- --processes 1000`` the full size."""
    session.install("-e", ".[dev]")
    args = session.posargs or ["--processes", "40"]
    session.run("python", str(ROOT / "benchmarks" / "load.py"), *args)


# What the wheel must contain, besides the modules themselves.
WHEEL_MUST_CONTAIN = (
    "djprocess/py.typed",
    "djprocess_celery/py.typed",
    "djprocess_subprocess/py.typed",
    "djprocess_subprocess/runner.py",
    "djprocess_gvisor/py.typed",
    "djprocess_gvisor/executor.py",
    "djprocess_example/py.typed",
    "djprocess_example/migrations/__init__.py",
    "djprocess/templates/admin/djprocess/process_change_form.html",
    "djprocess/static/djprocess/admin.css",
    "djprocess_example/static/djprocess_example/bulma/bulma.min.css",
    "djprocess_example/static/djprocess_example/bulma/LICENSE",
)
# What only the tests use (tests/djprocess_test_settings): never in the wheel.
WHEEL_MUST_NOT_CONTAIN = (
    "djprocess_example/settings_test.py",
    "djprocess_example/settings_test_pg.py",
    "djprocess_example/settings_nocelery.py",
    "djprocess_example/sqllog.py",
)


def _package_data_matching_nothing() -> list[str]:
    """``[tool.setuptools.package-data]`` patterns that match no file under src/."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    package_data = config["tool"]["setuptools"]["package-data"]
    return [
        f"{package}: {pattern}"
        for package, patterns in package_data.items()
        for pattern in patterns
        if not any(path.is_file() for path in (ROOT / "src" / package).glob(pattern))
    ]


def _modules_not_importable(names: set[str]) -> list[str]:
    """Modules of the wheel whose path is not an importable name, migrations aside (W004,
    which check-wheel-contents is told to ignore for them)."""
    return sorted(
        name
        for name in names
        if name.endswith(".py")
        and "/migrations/" not in name
        and not all(part.isidentifier() for part in name.removesuffix(".py").split("/"))
    )


@nox.session(python=DEFAULT_PYTHON)
def build(session: nox.Session) -> None:
    """python -m build (sdist + wheel), twine check --strict, check-wheel-contents (configured
    in pyproject.toml), and a look inside the wheel."""
    unmatched = _package_data_matching_nothing()
    if unmatched:
        session.error(f"package-data patterns that match no file: {unmatched}")
    session.install("build", "twine", "check-wheel-contents")
    dist = ROOT / "dist"
    shutil.rmtree(dist, ignore_errors=True)
    session.run("python", "-m", "build", "--outdir", str(dist))
    files = sorted(str(p) for p in dist.iterdir())
    session.run("twine", "check", "--strict", *files)
    (wheel,) = dist.glob("*.whl")
    session.run("check-wheel-contents", str(wheel))
    names = set(zipfile.ZipFile(wheel).namelist())
    missing = [name for name in WHEEL_MUST_CONTAIN if name not in names]
    if missing:
        session.error(f"{wheel.name} lacks {missing}")
    unwanted = [name for name in WHEEL_MUST_NOT_CONTAIN if name in names]
    if unwanted:
        session.error(f"{wheel.name} contains test-only files {unwanted}")
    unimportable = _modules_not_importable(names)
    if unimportable:
        session.error(f"{wheel.name} has modules at paths that cannot be imported: {unimportable}")
    session.log(f"{wheel.name}: {len(names)} files, contains {', '.join(WHEEL_MUST_CONTAIN)}")
