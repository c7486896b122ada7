"""A project that ran djprocess 0.0.1, upgraded to 0.1.0 (tests/upgrade).

The database comes from the environment: ``UPGRADE_DB_ENGINE`` (``sqlite3`` or
``postgresql``) and ``UPGRADE_DB_NAME`` (a file path, or a PostgreSQL database on
127.0.0.1:5432, user ``postgres``, overridable with ``EXAMPLE_PG_*`` as in the example app).
"""

from __future__ import annotations

import os

SECRET_KEY = "upgrade-test-not-secret"
DEBUG = False
USE_TZ = True
TIME_ZONE = "UTC"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
INSTALLED_APPS = ["django.contrib.contenttypes", "djprocess", "exports"]

_engine = os.environ.get("UPGRADE_DB_ENGINE", "sqlite3")
DATABASES = {
    "default": {
        "ENGINE": f"django.db.backends.{_engine}",
        "NAME": os.environ["UPGRADE_DB_NAME"],
        **(
            {
                "USER": os.environ.get("EXAMPLE_PG_USER", "postgres"),
                "HOST": os.environ.get("EXAMPLE_PG_HOST", "127.0.0.1"),
                "PORT": os.environ.get("EXAMPLE_PG_PORT", "5432"),
            }
            if _engine == "postgresql"
            else {}
        ),
    }
}

# Runs a process inside start(): the upgraded rows are run again without a worker.
DJPROCESS_WORKER_BACKEND = "djprocess.backends.immediate.ImmediateBackend"
