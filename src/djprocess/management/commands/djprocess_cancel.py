"""``manage.py djprocess_cancel LABEL PK [PK ...]``: cancel processes.

Waits for a running process's kill (seconds). Exit codes: 0 every one cancelled by this
command; 1 at least one had already finished (its status is unchanged) or the cancel failed;
2 unknown model label or pk (nothing is cancelled then).
"""

from __future__ import annotations

from djprocess.management.lookup import ProcessActionCommand

__all__ = ["Command"]


class Command(ProcessActionCommand):
    help = (
        "Cancel processes (process.cancel()): a pending one never runs, a running one is "
        "killed (SIGTERM, then SIGKILL). Exit codes: 0 all cancelled; 1 some had already "
        "finished or failed to cancel; 2 unknown model label or pk."
    )
    action = "cancel"
    not_done = "not cancelled"
    show_status = True
