"""``python -m djprocess_example runserver``: the example web UI on the embedded stack.

SQLite and Celery's ``filesystem://`` broker in a state folder, two prefork workers started
like the demo's, a demo user (``demo`` / ``demo``, superuser) and three example processes to
start. Ctrl-C (or SIGTERM) stops the server and the workers, and everything they started.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from pathlib import Path
from types import FrameType

__all__ = ["configure", "run_server", "seed", "setup"]

DEMO_USER = ("demo", "demo")


def configure(broker: str, state: Path) -> dict[str, str]:
    """Point the example settings at ``state`` and ``broker`` (environment variables, read
    by :mod:`djprocess_example.settings`); returns what the workers need of them."""
    os.environ["DJANGO_SETTINGS_MODULE"] = "djprocess_example.settings"
    os.environ["EXAMPLE_STATE_DIR"] = str(state)
    os.environ["EXAMPLE_BROKER_URL"] = broker
    os.environ["EXAMPLE_DB"] = f"sqlite:///{state / 'db.sqlite3'}"
    for folder in ("broker/queue", "broker/control"):
        (state / folder).mkdir(parents=True, exist_ok=True)
    keys = ("DJANGO_SETTINGS_MODULE", "EXAMPLE_STATE_DIR", "EXAMPLE_BROKER_URL", "EXAMPLE_DB")
    return {key: os.environ[key] for key in keys}


def setup(broker: str, state: Path) -> dict[str, str]:
    """:func:`configure`, ``django.setup()`` and ``migrate``; returns the workers' environment."""
    env = configure(broker, state)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    return env


def seed() -> None:
    """The demo user, and one process of each preset when there is no process yet."""
    from django.contrib.auth import get_user_model

    from djprocess_example.models import ExampleProcess
    from djprocess_example.presets import PRESETS

    user_model = get_user_model()
    name, password = DEMO_USER
    if not user_model._default_manager.filter(username=name).exists():
        user_model._default_manager.create_superuser(username=name, password=password, email="")
    if not ExampleProcess.objects.exists():
        for preset in PRESETS.values():
            preset.create()


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def run_server(
    addrport: str = "127.0.0.1:8000", broker: str = "filesystem://", state_dir: str | None = None
) -> int:
    """Serve the UI until Ctrl-C/SIGTERM; returns the exit code (0 after a clean stop)."""
    host, _, port_text = addrport.rpartition(":")
    host = host or "127.0.0.1"
    try:
        port = int(port_text)
    except ValueError:
        print(f"runserver: {addrport!r} is not HOST:PORT or PORT", file=sys.stderr)
        return 2
    state = Path(state_dir or os.environ.get("EXAMPLE_STATE_DIR") or Path.cwd() / ".demo")
    env = setup(broker, state.resolve())
    seed()

    from django.contrib.staticfiles.handlers import StaticFilesHandler
    from django.core.servers.basehttp import WSGIServer, get_internal_wsgi_application
    from django.core.servers.basehttp import run as serve

    from djprocess_example.celery import app
    from djprocess_example.workers import Worker, wait_until_ready

    handler = StaticFilesHandler(get_internal_wsgi_application())
    workers = [
        Worker("processes", 2, env, state / "worker-processes.log"),
        Worker("supervisor", 1, env, state / "worker-supervisor.log"),
    ]
    # SIGINT too: started in the background of a script, a process inherits SIGINT ignored,
    # and Python then never raises KeyboardInterrupt for it (Ctrl-C would do nothing).
    previous = {
        signum: signal.signal(signum, _raise_interrupt)
        for signum in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        for worker in workers:
            worker.start()
        wait_until_ready(app, workers)
        name, password = DEMO_USER
        print(
            f"djprocess example: http://{host}:{port}/ (log in as {name} / {password}), "
            f"admin at /admin/; state in {state}; Ctrl-C to stop",
            flush=True,
        )
        serve(host, port, handler, ipv6=":" in host, threading=True, server_cls=WSGIServer)
    except KeyboardInterrupt:
        print("stopping the workers ...", flush=True)
    except OSError as exc:
        print(f"runserver: cannot serve on {host}:{port}: {exc}", file=sys.stderr)
        return 1
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)
        for worker in workers:
            with contextlib.suppress(Exception):
                worker.stop(timeout=10)
    leftovers = [proc.pid for worker in workers for proc in worker.session_processes()]
    print(f"stopped; leftover processes: {len(leftovers)}", flush=True)
    return 0 if not leftovers else 1
