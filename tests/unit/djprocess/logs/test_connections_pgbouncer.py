"""The bounded side-connection write (``djprocess.logs._connections``) behind a real
PgBouncer in transaction pooling mode: nothing a log write sets outlives its transaction on a
pooled server connection, and a write inside ``atomic()`` does not wait for a server
connection the pool cannot give. The test starts its own ``pgbouncer`` (Debian package
``pgbouncer``) on a free port, in front of the PostgreSQL test database."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.db import connection, connections, transaction

from djprocess.logs import _store as logstore
from djprocess_example.models import ExampleProcess

# The pgbouncer fixture is module-scoped so that its database aliases exist when each test's
# test case is set up ("__all__" is every alias known then).
pytestmark = [
    pytest.mark.django_db(transaction=True, databases="__all__"),
    pytest.mark.skipif(
        django_settings.DATABASES["default"]["ENGINE"].endswith("sqlite3"),
        reason="PgBouncer fronts PostgreSQL: run with --ds=djprocess_test_settings.postgres",
    ),
]

POOLS = {"bouncer_roomy": 2, "bouncer_tight": 1}


def _binary() -> str:
    found = shutil.which("pgbouncer") or shutil.which("pgbouncer", path="/usr/sbin:/usr/bin")
    if found is None:
        pytest.fail(
            "pgbouncer is not installed: install the Debian package "
            "(apt-get install -y pgbouncer); .ci/run does"
        )
    return found


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def pgbouncer(django_db_setup: None) -> Iterator[int]:
    """A pgbouncer (transaction pooling) with a database entry per :data:`POOLS` (pool
    size as given), each pointing at the PostgreSQL test database; yields its port."""
    binary = _binary()
    settings = connection.settings_dict
    folder = Path(tempfile.mkdtemp(prefix="djprocess-pgbouncer-"))
    folder.chmod(0o755)  # pgbouncer refuses to run as root: it runs as nobody below
    port = _free_port()
    entries = "\n".join(
        f"{name} = host={settings['HOST']} port={settings['PORT']} "
        f"dbname={settings['NAME']} pool_size={size}"
        for name, size in POOLS.items()
    )
    (folder / "users.txt").write_text(f'"{settings["USER"]}" ""\n')
    (folder / "pgbouncer.ini").write_text(
        f"[databases]\n{entries}\n\n[pgbouncer]\nlisten_addr = 127.0.0.1\n"
        f"listen_port = {port}\nunix_socket_dir =\nauth_type = trust\n"
        f"auth_file = {folder / 'users.txt'}\npool_mode = transaction\n"
        "max_client_conn = 100\nquery_wait_timeout = 90\nserver_reset_query =\n"
    )
    for path in folder.iterdir():
        path.chmod(0o644)
    as_nobody: dict[str, Any] = {"user": "nobody"} if os.geteuid() == 0 else {}
    output = folder / "pgbouncer.out"
    with output.open("wb") as out:
        process = subprocess.Popen(
            [binary, str(folder / "pgbouncer.ini")],
            stdout=out,
            stderr=subprocess.STDOUT,
            **as_nobody,
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, output.read_text()
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "pgbouncer did not start listening"
                time.sleep(0.05)
        for name in POOLS:
            connections.settings[name] = connections.configure_settings(
                {
                    "default": dict(settings),
                    name: {**dict(settings), "NAME": name, "HOST": "127.0.0.1", "PORT": port},
                }
            )[name]
        yield port
    finally:
        logstore.close_private_connections()
        for name in POOLS:
            if name in connections.settings:
                connections[name].close()
                del connections.settings[name]
        process.terminate()
        process.wait(30)
        shutil.rmtree(folder, ignore_errors=True)


def _lock_timeouts(port: int, name: str, clients: int) -> list[str]:
    """``lock_timeout`` as seen by ``clients`` concurrent transactions (one per server)."""
    import psycopg  # not installed where the tests run without PostgreSQL (nox -s nocelery)

    user = connection.settings_dict["USER"]
    conns = [
        psycopg.connect(host="127.0.0.1", port=port, dbname=name, user=user) for _ in range(clients)
    ]
    try:
        return [str(c.execute("SHOW lock_timeout").fetchone()[0]) for c in conns]  # type: ignore[index]
    finally:
        for c in conns:
            c.close()


def test_log_inside_atomic_leaves_no_setting_on_pooled_servers(pgbouncer: int) -> None:
    name = "bouncer_roomy"
    process = ExampleProcess.objects.using(name).create()
    with transaction.atomic(using=name):
        ExampleProcess.objects.using(name).filter(pk=process.pk).update(lines=5)
        assert process.log("inside") == 1  # on a second server connection, committed
    # Both servers of the pool, held at once: neither kept the log write's lock_timeout.
    assert _lock_timeouts(pgbouncer, name, 2) == ["0", "0"]
    assert list(process.logs.using(name).values_list("message", flat=True)) == ["inside"]


def test_log_inside_atomic_does_not_wait_for_a_full_pool(pgbouncer: int) -> None:
    name = "bouncer_tight"  # one server connection, held by the caller's transaction
    process = ExampleProcess.objects.using(name).create()
    result: list[Any] = []

    def work() -> None:
        try:
            with transaction.atomic(using=name):
                ExampleProcess.objects.using(name).filter(pk=process.pk).update(lines=5)
                result.append(process.log("inside"))
        except BaseException as exc:
            result.append(exc)
        finally:
            connections[name].close()

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    thread.join(60)  # pgbouncer here waits 90 s for a server (query_wait_timeout)
    assert not thread.is_alive(), "log() waited for a server connection the pool cannot give"
    assert result == [1]
    assert list(process.logs.using(name).values_list("message", flat=True)) == ["inside"]
