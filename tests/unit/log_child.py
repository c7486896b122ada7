"""A separate Python process (multiprocessing *spawn*) that logs in a loop while the test
sends it SIGTERMs. Importable without Django set up: it sets Django up itself, on the test
database whose name it is given."""

from __future__ import annotations

import os
import traceback
from multiprocessing.connection import Connection
from typing import Any

#: Where a signal handler's exception may not come from: inside a database round trip.
DATABASE_CODE = ("/psycopg/", "/django/db/", "/djprocess/logsql.py", "/djprocess/logconn.py")


def log_under_signals(settings_module: str, db_name: str, pk: int, count: int, pipe: Connection) -> None:
    """Log ``count`` lines to process ``pk`` with SIGTERM raising ``ProcessTerminated`` (the
    runner's own :class:`~djprocess.signalguard.SignalGuard`); send back, per line, what
    ``log()`` did: ``("returned", n, sequence)`` or ``("raised", n, notes, db_frames)``."""
    os.environ["DJANGO_SETTINGS_MODULE"] = settings_module
    from django.conf import settings

    settings.DATABASES["default"]["NAME"] = db_name
    import django

    django.setup()
    from djprocess.exceptions import ProcessTerminated
    from djprocess.signalguard import SignalGuard
    from djprocess_example.models import ExampleProcess

    outcomes: list[tuple[Any, ...]] = []
    process = ExampleProcess.objects.get(pk=pk)
    with SignalGuard() as guard, guard.arm():
        pipe.send("ready")
        n = 0
        while n < count:
            try:
                sequence = process.log(f"line {n}")
                outcomes.append(("returned", n, sequence))
                n += 1
            except ProcessTerminated as exc:
                frames = traceback.extract_tb(exc.__traceback__)
                in_db = [f.filename for f in frames if any(p in f.filename for p in DATABASE_CODE)]
                outcomes.append(("raised", n, list(getattr(exc, "__notes__", [])), in_db))
                n += 1
            except BaseException:
                outcomes.append(("error", n, traceback.format_exc()))
                break
    # Signals off: nothing interrupts sending the results.
    pipe.send(outcomes)
    pipe.close()
