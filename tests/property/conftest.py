"""Fixtures for the property tests (Hypothesis), on SQLite (default settings) and on
PostgreSQL (``--ds=djprocess_test_settings.postgres``; nox runs both).

Concurrent writers need a database that several connections and OS processes can share.
PostgreSQL's test database is one. The default SQLite test database lives in memory
(shared cache, table locks without a busy timeout), so :func:`writer_db` adds, for SQLite,
a file database in WAL mode with ``transaction_mode=IMMEDIATE`` (as the example settings
use) under a second alias, migrated once per session.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connections
from hypothesis import HealthCheck, settings

from djprocess.logs import _store as logstore

FILE_ALIAS = "djprocess_property_file"

settings.register_profile(
    "djprocess",
    deadline=None,  # database work makes timings noisy
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
settings.load_profile("djprocess")


@pytest.fixture(scope="session")
def writer_db(
    django_db_setup: None,
    django_db_blocker: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[str]:
    """The alias concurrent writers use: ``default`` on PostgreSQL, a migrated SQLite file
    database otherwise."""
    if connections["default"].vendor != "sqlite":
        yield "default"
        return
    path: Path = tmp_path_factory.mktemp("sqlite") / "writers.sqlite3"
    connections.settings[FILE_ALIAS] = connections.configure_settings(
        {
            "default": dict(connections["default"].settings_dict),
            FILE_ALIAS: {
                "ENGINE": "django.db.backends.sqlite3",
                "NAME": str(path),
                "OPTIONS": {
                    "transaction_mode": "IMMEDIATE",
                    "timeout": 60,
                    "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=OFF;",
                },
                "TEST": {"NAME": str(path)},
            },
        }
    )[FILE_ALIAS]
    with django_db_blocker.unblock():  # type: ignore[attr-defined]
        call_command("migrate", database=FILE_ALIAS, verbosity=0)
    yield FILE_ALIAS
    connections[FILE_ALIAS].close()


@pytest.fixture(autouse=True)
def _close_private_log_connections() -> Iterator[None]:
    yield
    logstore.close_private_connections()
