"""Settings for the example project and the demo (real workers, SQLite by default).

Environment knobs (all optional):

* ``EXAMPLE_DB``: ``sqlite:////abs/path.sqlite3`` (default: ``.demo/db.sqlite3``
  under the current directory) or ``postgres://user@host:port/name``;
* ``EXAMPLE_BROKER_URL``: a Celery broker URL (default ``filesystem://``);
* ``EXAMPLE_BROKER_DIR``: folder of the ``filesystem://`` broker (default ``.demo/broker``);
* ``EXAMPLE_PROCESS_QUEUE`` / ``EXAMPLE_SUPERVISOR_QUEUE``: queue names (default
  ``processes`` / ``supervisor``);
* ``EXAMPLE_VISIBILITY_TIMEOUT``: seconds, the Redis broker's ``visibility_timeout``
  (default: kombu's, one hour): how long an unacknowledged message held by a worker
  that died waits before it is delivered again;
* ``EXAMPLE_KILL_TERM_RETRIES`` / ``EXAMPLE_KILL_TERM_WAIT_SECONDS``: the kill escalation;
* ``EXAMPLE_WORKER_BACKEND``: ``celery`` (default), ``subprocess`` or ``gvisor``
  (the subprocess backend with the gVisor executor);
* ``EXAMPLE_EXTRA_MIDDLEWARE``: comma-separated dotted paths of middleware appended to
  ``MIDDLEWARE`` (the browser tests add one that logs each request's SQL).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

STATE_DIR = Path(os.environ.get("EXAMPLE_STATE_DIR", Path.cwd() / ".demo"))

SECRET_KEY = os.environ.get("EXAMPLE_SECRET_KEY", "djprocess-example-not-secret")
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
USE_TZ = True
TIME_ZONE = "UTC"
ROOT_URLCONF = "djprocess_example.urls"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "djprocess",
    "djprocess_celery",
    "djprocess_example",
]

# The web UI (``python -m djprocess_example runserver``) and the admin.
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    }
]
#: ``EXAMPLE_EXTRA_MIDDLEWARE``: more middleware, last (the browser tests count queries with it).
MIDDLEWARE += [path for path in os.environ.get("EXAMPLE_EXTRA_MIDDLEWARE", "").split(",") if path]
STATIC_URL = "/static/"
LOGIN_URL = "djprocess_example:login"
LOGIN_REDIRECT_URL = "djprocess_example:process_list"
LOGOUT_REDIRECT_URL = "djprocess_example:login"


def database_from_url(url: str) -> dict[str, Any]:
    """``sqlite:////abs/path`` or ``postgres://user@host:port/name`` → a DATABASES entry."""
    parsed = urlparse(url)
    if parsed.scheme == "sqlite":
        return {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": parsed.path or ":memory:",
            # Writers from several processes: take the write lock up front (a read
            # then write in DEFERRED mode fails at once with "database is locked").
            "OPTIONS": {
                "transaction_mode": "IMMEDIATE",
                "timeout": 30,
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            },
        }
    if parsed.scheme in ("postgres", "postgresql"):
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": parsed.path.lstrip("/") or "test",
            "USER": parsed.username or "postgres",
            "PASSWORD": parsed.password or "",
            "HOST": parsed.hostname or "127.0.0.1",
            "PORT": str(parsed.port or 5432),
        }
    raise ValueError(f"EXAMPLE_DB {url!r}: use sqlite:////path or postgres://user@host/name")


DATABASES = {
    "default": database_from_url(
        os.environ.get("EXAMPLE_DB", f"sqlite:///{STATE_DIR / 'db.sqlite3'}")
    )
}

BROKER_DIR = Path(os.environ.get("EXAMPLE_BROKER_DIR", STATE_DIR / "broker"))
CELERY_BROKER_URL = os.environ.get("EXAMPLE_BROKER_URL", "filesystem://")
if CELERY_BROKER_URL == "filesystem://":
    # The same broker, named with a host: kombu warns "No hostname was supplied" otherwise.
    CELERY_BROKER_URL = "filesystem://localhost//"
CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, Any] = {}
if CELERY_BROKER_URL.startswith("filesystem://"):
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(BROKER_DIR / "queue"),
        "data_folder_out": str(BROKER_DIR / "queue"),
        "control_folder": str(BROKER_DIR / "control"),
        "store_processed": False,
        # The default 1 s poll makes every control round trip take ~1-2 s.
        "polling_interval": 0.05,
    }
elif os.environ.get("EXAMPLE_VISIBILITY_TIMEOUT"):
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": float(os.environ["EXAMPLE_VISIBILITY_TIMEOUT"]),
    }
# The worker's main process must keep reading control messages while its pool is
# busy, or a kill waits behind queued work (celery#2070).
CELERY_WORKER_POOL_PUTLOCKS = False
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Countdown (watchdog) tasks fire up to this many seconds late (default 1.0).
CELERY_WORKER_TIMER_PRECISION = 0.1
CELERY_TASK_ACKS_LATE = False
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

#: ``EXAMPLE_WORKER_BACKEND``: ``celery`` (default), ``subprocess`` or ``gvisor``.
EXAMPLE_WORKER_BACKEND = os.environ.get("EXAMPLE_WORKER_BACKEND", "celery")
_BACKENDS = {
    "celery": ("djprocess_celery.backend.CeleryWorkerBackend", ""),
    "subprocess": (
        "djprocess_subprocess.backend.SubprocessWorkerBackend",
        "djprocess_subprocess.native.NativeExecutor",
    ),
    "gvisor": (
        "djprocess_subprocess.backend.SubprocessWorkerBackend",
        "djprocess_gvisor.executor.GvisorExecutor",
    ),
}
DJPROCESS_WORKER_BACKEND, _executor = _BACKENDS[EXAMPLE_WORKER_BACKEND]
if _executor:
    DJPROCESS_SUBPROCESS_EXECUTOR = _executor
if EXAMPLE_WORKER_BACKEND == "gvisor":
    # Sandbox state next to the rest of the example's state (the default is under /run).
    DJPROCESS_GVISOR_RUNSC_ROOT = str(STATE_DIR / "runsc")

DJPROCESS_PROCESS_QUEUE = os.environ.get("EXAMPLE_PROCESS_QUEUE", "processes")
DJPROCESS_SUPERVISOR_QUEUE = os.environ.get("EXAMPLE_SUPERVISOR_QUEUE", "supervisor")
DJPROCESS_KILL_TERM_RETRIES = int(os.environ.get("EXAMPLE_KILL_TERM_RETRIES", "3"))
DJPROCESS_KILL_TERM_WAIT_SECONDS = float(os.environ.get("EXAMPLE_KILL_TERM_WAIT_SECONDS", "1"))

# E-mail (djprocess_example.notifications mails ADMINS when a process fails; ADMINS is empty
# here, so nothing is sent). MAILERS is Django 6.1's e-mail setting (6.0 ignores it); tests
# get Django's locmem backend in its place.
ADMINS: list[str] = [
    address for address in os.environ.get("EXAMPLE_ADMINS", "").split(",") if address
]
MAILERS = {"default": {"BACKEND": "django.core.mail.backends.console.EmailBackend"}}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "[%(asctime)s %(levelname)s %(name)s] %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": "INFO"},
}
