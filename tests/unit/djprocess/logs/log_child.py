"""A separate Python process (multiprocessing *spawn*) that logs in a loop while the test
sends it SIGTERMs. Importable without Django set up: it sets Django up itself, on the test
database whose name it is given."""

from __future__ import annotations

import os
import signal
import traceback
from multiprocessing.connection import Connection
from typing import Any

#: Where a signal handler's exception may not come from: inside a database round trip.
DATABASE_CODE = (
    "/psycopg/",
    "/django/db/backends/",
    "/django/db/models/sql/",
    "/django/db/transaction.py",
    "/djprocess/logs/_sql.py",
    "/djprocess/logs/_connections.py",
)


class _State:
    in_log = False


def _raise_in_log(signum: int, frame: object) -> None:
    """Like the runner's SIGTERM handler, raise ProcessTerminated; but only while ``log()``
    is being called, so that the test's own bookkeeping is never interrupted."""
    from djprocess.exceptions import ProcessTerminated

    if _State.in_log:
        raise ProcessTerminated(signum)


def log_under_signals(
    settings_module: str, db_name: str, pk: int, count: int, pipe: Connection
) -> None:
    """Log ``count`` lines to process ``pk`` while SIGTERMs raise ``ProcessTerminated``; send
    back, per line, what ``log()`` did: ``("returned", n, sequence)`` or
    ``("raised", n, notes, frames_in_database_code)``."""
    os.environ["DJANGO_SETTINGS_MODULE"] = settings_module
    from django.conf import settings

    settings.DATABASES["default"]["NAME"] = db_name
    import django

    django.setup()
    from djprocess.exceptions import ProcessTerminated
    from djprocess_example.models import ExampleProcess

    outcomes: list[tuple[Any, ...]] = []
    process = ExampleProcess.objects.get(pk=pk)
    process.log_count()  # connected before the first signal
    signal.signal(signal.SIGTERM, _raise_in_log)
    pipe.send("ready")
    for n in range(count):
        try:
            _State.in_log = True
            sequence = process.log(f"line {n}")
            _State.in_log = False
            outcomes.append(("returned", n, sequence))
        except ProcessTerminated as exc:
            _State.in_log = False
            frames = traceback.extract_tb(exc.__traceback__)
            in_db = [f.filename for f in frames if any(p in f.filename for p in DATABASE_CODE)]
            outcomes.append(("raised", n, list(getattr(exc, "__notes__", [])), in_db))
        except BaseException:
            _State.in_log = False
            outcomes.append(("error", n, traceback.format_exc()))
            break
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # late signals: the results still go out
    pipe.send(outcomes)
    pipe.close()
