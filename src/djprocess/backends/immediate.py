"""A backend with no task queue: ``start()`` runs the process at once, in the caller.

For tests and scripts that must not need Celery (like Django's ``ImmediateBackend``
for tasks). There is no worker to signal, so ``kill()`` finds nothing and the
watchdog never fires: a timeout is not enforced.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from djprocess.backends.base import BaseWorkerBackend, KillResult

if TYPE_CHECKING:
    from djprocess.models import BaseProcess

__all__ = ["ImmediateBackend"]


class ImmediateBackend(BaseWorkerBackend):
    """Runs ``process.execute()`` synchronously inside ``dispatch()``."""

    supports_kill = False
    supports_timeout = False
    supports_cancel = False
    supports_stopping_descendants = False

    def dispatch(self, process: BaseProcess) -> tuple[str, str]:
        """Run the process now; returns ``(task_id, "")`` (there is no watchdog)."""
        task_id = f"immediate-{uuid.uuid4()}"
        process.execute(task_id=task_id, hostname="immediate")
        return task_id, ""

    def kill(self, task_id: str, *, hostname: str = "", pid: int | None = None) -> KillResult:
        """Nothing runs in the background: always ``found=False``."""
        return KillResult(found=False, gone=True, hostname=hostname)

    def revoke_scheduled(self, task_id: str) -> None:
        """Nothing is ever scheduled."""

    def is_eager(self) -> bool:
        return True
