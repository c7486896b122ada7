"""``manage.py djprocess_start LABEL PK [PK ...]``: start pending processes.

Exit codes: 0 every one started; 1 at least one was not (already started or finished, or
the backend failed); 2 unknown model label or pk (nothing is started then).
"""

from __future__ import annotations

from djprocess.management.lookup import ProcessActionCommand

__all__ = ["Command"]


class Command(ProcessActionCommand):
    help = (
        "Start pending processes: dispatch them to the workers (process.start()). Exit codes: "
        "0 all started; 1 some not (already started or finished, backend error); "
        "2 unknown model label or pk."
    )
    action = "start"
    not_done = "not started"
