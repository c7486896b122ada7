"""Unit-test settings: SQLite, Celery in eager mode (no broker, no worker)."""

from __future__ import annotations

from djprocess_example.settings import *  # noqa: F403

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": ":memory:",
        "OPTIONS": {"transaction_mode": "IMMEDIATE", "timeout": 30},
    }
}
CELERY_BROKER_URL = "memory://"
CELERY_BROKER_TRANSPORT_OPTIONS = {}
CELERY_TASK_ALWAYS_EAGER = True
CELERY_TASK_EAGER_PROPAGATES = True
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# As 0.0.1's users have them: djprocess_subprocess registers the task names 0.0.1 queued.
INSTALLED_APPS = [*INSTALLED_APPS, "djprocess_subprocess", "djprocess_gvisor"]  # noqa: F405
