"""Test settings like :mod:`djprocess_test_settings.sqlite` but on PostgreSQL (127.0.0.1:5432,
user postgres).

pytest-django creates and drops the test database ``test_djprocess_pg``. Used to run the
property tests and the log tests on PostgreSQL:
``pytest --ds=djprocess_test_settings.postgres tests/property tests/unit/djprocess/logs``.
"""

from __future__ import annotations

import os

from djprocess_test_settings.sqlite import *  # noqa: F403

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": "test",
        "USER": os.environ.get("EXAMPLE_PG_USER", "postgres"),
        "HOST": os.environ.get("EXAMPLE_PG_HOST", "127.0.0.1"),
        "PORT": os.environ.get("EXAMPLE_PG_PORT", "5432"),
        "TEST": {"NAME": os.environ.get("EXAMPLE_PG_TEST_NAME", "test_djprocess_pg")},
    }
}
