"""The Celery worker backend: dispatch, escalating kill, revoke.

Runs are stopped where they run: the pool child that takes a process task supervises
the run it forks (:func:`djprocess.run.localsupervisor.run_supervised`), on its own clock
and through the database, without any remote-control command. ``kill()`` is the
fallback the supervisor uses when that pool child does not confirm a stop in time.

``kill()`` cannot be ``revoke(terminate=True)``: a revoke forgets the task after the
first signal, so a run that ignores SIGTERM would never get SIGKILL. Instead it
drives the worker remote-control commands in :mod:`djprocess_celery.control`,
which signal one pool child without forgetting the task, and polls until the task
is gone.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any

from celery import current_app
from django.core.checks import CheckMessage, Error, Warning

from djprocess.backends.base import BaseWorkerBackend, KillResult, Liveness
from djprocess.backends.labels import label_of
from djprocess.conf import settings
from djprocess.exceptions import BackendError, KillControlError
from djprocess.models import BaseProcess
from djprocess_celery.conf import control_timeout_seconds, process_queue, supervisor_queue
from djprocess_celery.replies import MalformedReply, TaskReply

logger = logging.getLogger("djprocess_celery.backend")

__all__ = ["CeleryWorkerBackend"]

#: Immediate re-sends of a control command that got no reply.
CONTROL_ATTEMPTS = 3
#: Seconds between two status polls while waiting for a signalled run to end.
POLL_INTERVAL_SECONDS = 0.05
#: Seconds to wait for a run to be gone after SIGKILL.
SIGKILL_WAIT_SECONDS = 10.0
#: A control message older than this is ignored by the worker (stale replays).
MESSAGE_TTL_SECONDS = 30.0


class _OwnerAnswered(Exception):
    """Raised from the reply callback to stop collecting at the owner's reply."""

    def __init__(self, answer: TaskReply) -> None:
        super().__init__(answer)
        self.answer = answer


def _parse(command: str, hostname: str, data: object) -> TaskReply:
    try:
        return TaskReply.from_reply(data)
    except MalformedReply as exc:
        # Never read as "not running": the kill is retried.
        raise KillControlError(f"{command} on {hostname or 'a worker'}: {exc}") from None


def _stop_at_owner(body: Mapping[str, object]) -> None:
    for data in body.values():
        with contextlib.suppress(MalformedReply):
            answer = TaskReply.from_reply(data)
            if answer.known and not answer.stale and not answer.error:
                raise _OwnerAnswered(answer)


def _json_pk(pk: Any) -> int | str:
    return pk if isinstance(pk, int) else str(pk)


class CeleryWorkerBackend(BaseWorkerBackend):
    """Runs processes as Celery tasks on ``DJPROCESS_PROCESS_QUEUE`` with a watchdog on
    ``DJPROCESS_SUPERVISOR_QUEUE``. Needs the prefork pool on the process workers."""

    supports_kill = True
    supports_probe = True
    stops_runs_locally = True
    #: This package's loggers, Celery's and its transport's (never captured into a log).
    worker_loggers: tuple[str, ...] = ("djprocess_celery", "celery", "kombu", "amqp", "billiard")

    def host_of(self, worker_hostname: str) -> str:
        """The host of a Celery node name: ``"processes-12@web1"`` → ``"web1"``."""
        return worker_hostname.rpartition("@")[2]

    # -- dispatch -----------------------------------------------------------------

    def dispatch(self, process: BaseProcess) -> tuple[str, str]:
        """Send the watchdog (``countdown=process.timeout_seconds()``), then the process task.

        Uses the task ids ``start()`` recorded on ``process`` (new ones if empty). Returns
        ``(process_task_id, watchdog_task_id)``. Transport errors propagate; if the
        process task cannot be sent the watchdog is revoked. Raises
        :class:`~djprocess.exceptions.BackendError` if ``djprocess_celery`` is not in
        ``INSTALLED_APPS`` (no worker would know the tasks).
        """
        from django.apps import apps

        from djprocess_celery.tasks import run_process, watchdog

        if not apps.is_installed("djprocess_celery"):
            raise BackendError(
                "djprocess_celery is not in INSTALLED_APPS: workers would drop the process "
                "task as unregistered. Add it next to 'djprocess'."
            )
        args = (label_of(process), _json_pk(process.pk))
        guard = watchdog.apply_async(
            args,
            countdown=process.timeout_seconds(),
            queue=supervisor_queue(),
            serializer="json",
            task_id=process.watchdog_task_id or None,
        )
        try:
            run = run_process.apply_async(
                args,
                queue=process_queue(),
                serializer="json",
                task_id=process.process_task_id or None,
            )
        except BaseException:
            self.revoke_scheduled(guard.id)
            raise
        return run.id, guard.id

    def revoke_scheduled(self, task_id: str) -> None:
        """Revoke ``task_id`` (no terminate): a countdown task is then discarded."""
        if task_id and not self.is_eager():
            current_app.control.revoke(task_id)

    def is_eager(self) -> bool:
        return bool(current_app.conf.task_always_eager)

    # -- control commands ---------------------------------------------------------

    def _broadcast(self, command: str, hostname: str, **arguments: Any) -> list[TaskReply]:
        """Send ``command`` and return the replies; re-send at once on silence.

        Raises :class:`KillControlError` after ``CONTROL_ATTEMPTS`` silent tries.
        """
        arguments["deadline"] = time.time() + MESSAGE_TTL_SECONDS
        # No reply limit: several workers may answer to one node name. Collection
        # stops at the first reply from the worker that knows the task.
        options: dict[str, Any] = {
            "reply": True,
            "timeout": control_timeout_seconds(),
            "callback": _stop_at_owner,
        }
        if hostname:
            options["destination"] = [hostname]
        last_error: Exception | None = None
        for _ in range(CONTROL_ATTEMPTS):
            try:
                # A fresh connection each time: kombu remembers declared reply
                # queues per connection, and an auto-deleted one is then never
                # declared again (replies silently lost on filesystem://).
                with current_app.connection_for_write() as connection:
                    replies = current_app.control.broadcast(
                        command, arguments=arguments, connection=connection, **options
                    )
            except _OwnerAnswered as owner:
                return [owner.answer]
            except Exception as exc:  # noqa: BLE001 - transport errors: retry at once
                last_error = exc
                continue
            parsed = [
                _parse(command, hostname, data)
                for reply in replies or []
                for data in reply.values()
            ]
            answers = [answer for answer in parsed if not answer.stale]
            failed = [answer.error for answer in answers if answer.error]
            if failed:
                # An error is never read as "not running".
                raise KillControlError(f"{command} failed on {hostname or 'a worker'}: {failed[0]}")
            if answers:
                return answers
        where = hostname or "any worker"
        detail = f": {last_error}" if last_error else ""
        raise KillControlError(
            f"no reply from {where} to {command} after {CONTROL_ATTEMPTS} tries{detail}"
        )

    def _status(self, task_id: str, hostname: str, pid: int | None) -> TaskReply:
        answers = self._broadcast("djprocess_status", hostname, task_id=task_id, pid=pid)
        found = [a for a in answers if a.found]
        return found[0] if found else TaskReply(found=False)

    def _signal(
        self, task_id: str, signal_name: str, hostname: str, pid: int | None, *, tree: bool
    ) -> TaskReply:
        deadline = time.monotonic() + SIGKILL_WAIT_SECONDS
        while True:
            answers = self._broadcast(
                "djprocess_signal",
                hostname,
                task_id=task_id,
                signal_name=signal_name,
                pid=pid,
                tree=tree,
            )
            found = [a for a in answers if a.found]
            answer = found[0] if found else TaskReply(found=False)
            if answer.unsupported:
                raise BackendError(
                    f"worker {hostname or '?'} runs its tasks in the {answer.unsupported} "
                    "pool, which cannot stop a running task: start it with -P prefork"
                )
            # "starting": handed to a child that has not acknowledged yet; ask again.
            if not answer.starting or time.monotonic() > deadline:
                return answer
            time.sleep(POLL_INTERVAL_SECONDS)

    def _wait_gone(self, task_id: str, hostname: str, pid: int | None, seconds: float) -> bool:
        deadline = time.monotonic() + seconds
        while True:
            answer = self._status(task_id, hostname, pid)
            # A dead (or zombie) child is gone even before the pool notices it.
            if not answer.found or answer.alive is False:
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(POLL_INTERVAL_SECONDS)

    # -- the contract -------------------------------------------------------------

    def kill(self, task_id: str, *, hostname: str = "", pid: int | None = None) -> KillResult:
        """SIGTERM up to ``DJPROCESS_KILL_TERM_RETRIES`` times, each followed by up to
        ``DJPROCESS_KILL_TERM_WAIT_SECONDS`` of polling, then SIGKILL to the pool child
        and every process it started, and confirm the task is gone.

        Raises :class:`~djprocess.exceptions.KillControlError` if the worker never answers.
        """
        retries = settings.KILL_TERM_RETRIES
        wait = settings.KILL_TERM_WAIT_SECONDS
        result = functools.partial(KillResult, term_retries=retries, hostname=hostname)
        term_sent = 0
        for _ in range(retries):
            answer = self._signal(task_id, "SIGTERM", hostname, pid, tree=False)
            if not answer.found:
                return result(found=term_sent > 0, gone=True, term_sent=term_sent)
            term_sent += 1
            pid = answer.pid or pid
            logger.info(
                "task %s: SIGTERM %d/%d sent to pid %s on %s",
                task_id, term_sent, retries, pid, hostname or "?",
            )  # fmt: skip
            if self._wait_gone(task_id, hostname, pid, wait):
                return result(found=True, gone=True, term_sent=term_sent, pid=pid)
        answer = self._signal(task_id, "SIGKILL", hostname, pid, tree=True)
        if not answer.found:
            return result(found=term_sent > 0, gone=True, term_sent=term_sent)
        logger.warning(
            "task %s: SIGKILL sent to pid %s on %s and %s processes it started",
            task_id, answer.pid or pid, hostname or "?", answer.tree,
        )  # fmt: skip
        gone = self._wait_gone(task_id, hostname, pid, SIGKILL_WAIT_SECONDS)
        return result(found=True, gone=gone, term_sent=term_sent, kill_sent=True, pid=pid)

    def probe(self, task_id: str, *, hostname: str = "", pid: int | None = None) -> Liveness:
        """Ask the worker whether ``task_id`` still runs (``UNREACHABLE`` if it is silent)."""
        try:
            answer = self._status(task_id, hostname, pid)
        except KillControlError:
            return Liveness.UNREACHABLE
        return Liveness.RUNNING if answer.found else Liveness.NOT_RUNNING

    @classmethod
    def check(cls, **kwargs: Any) -> Sequence[CheckMessage]:
        """Report Celery configuration that would break djprocess (ids ``djprocess_celery.*``)."""
        from django.apps import apps

        messages: list[CheckMessage] = []
        if not apps.is_installed("djprocess_celery"):
            messages.append(
                Error(
                    "DJPROCESS_WORKER_BACKEND is the Celery backend but 'djprocess_celery' is "
                    "not in INSTALLED_APPS: workers would drop every process task as "
                    "unregistered and start() would refuse to dispatch.",
                    hint="Add 'djprocess_celery' to INSTALLED_APPS.",
                    id="djprocess_celery.E003",
                )
            )
        conf = current_app.conf
        accepted = set(conf.accept_content or [])
        if accepted and "json" not in accepted and "application/json" not in accepted:
            messages.append(
                Error(
                    f"Celery accept_content={sorted(accepted)!r} does not accept JSON: "
                    "djprocess task messages are JSON.",
                    hint="Add 'json' to CELERY_ACCEPT_CONTENT.",
                    id="djprocess_celery.E001",
                )
            )
        pool = conf.worker_pool
        if pool not in (None, "prefork", "celery.concurrency.prefork:TaskPool"):
            messages.append(
                Warning(
                    f"Celery worker_pool={pool!r} cannot terminate a running task: "
                    "djprocess timeouts and cancel() would not stop work.",
                    hint="Use the prefork pool (celery worker -P prefork).",
                    id="djprocess_celery.W001",
                )
            )
        broker = str(conf.broker_url or "")
        if conf.task_always_eager and broker.split("://")[0] not in ("", "memory"):
            messages.append(
                Warning(
                    f"Celery task_always_eager=True with the broker {broker.split('://')[0]!r}: "
                    "start() runs processes inline in the calling process (a web request), "
                    "the workers on the queues get nothing and timeouts are not enforced.",
                    hint="Set CELERY_TASK_ALWAYS_EAGER only in test settings "
                    "(with CELERY_BROKER_URL = 'memory://').",
                    id="djprocess_celery.W002",
                )
            )
        if not conf.task_create_missing_queues and conf.task_queues:
            declared = {getattr(queue, "name", queue) for queue in conf.task_queues}
            missing = [
                f"{name}={queue!r}"
                for name, queue in (
                    ("DJPROCESS_PROCESS_QUEUE", process_queue()),
                    ("DJPROCESS_SUPERVISOR_QUEUE", supervisor_queue()),
                )
                if queue not in declared
            ]
            if missing:
                messages.append(
                    Error(
                        f"Celery task_create_missing_queues=False and task_queues does not "
                        f"declare {', '.join(missing)}: start() would fail to send the tasks.",
                        hint="Add those queues to CELERY_TASK_QUEUES or set "
                        "CELERY_TASK_CREATE_MISSING_QUEUES = True.",
                        id="djprocess_celery.E002",
                    )
                )
        return messages
