"""The lifecycle as a Hypothesis state machine driving the real code paths (start, the
worker's execute, cancel, watchdog fire, a lost worker, duplicate deliveries in any order,
re-runs) through a backend that runs nothing and whose kills succeed.

Invariants: a terminal status is left only by a re-run (``restart()``, or ``start()`` of a
failed or timed-out process), back to ``pending``, and never replaced by another one; a terminal
process whose kill was confirmed has ``finished_at``; nothing but the documented
``ProcessNotStartable`` escapes to callers; the log stays gapless."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import override_settings
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, consumes, invariant, rule
from property_backend import PATH, MachineBackend

from djprocess import rerun, status
from djprocess.backends import get_backend
from djprocess.exceptions import ProcessNotStartable
from djprocess.supervision import supervisor
from djprocess_example.models import ExampleProcess

pytestmark = pytest.mark.django_db


class Lifecycle(RuleBasedStateMachine):
    processes = Bundle("processes")

    def __init__(self) -> None:
        super().__init__()
        self.overrides = override_settings(DJPROCESS_WORKER_BACKEND=PATH)
        self.overrides.enable()
        backend = get_backend()
        assert isinstance(backend, MachineBackend)
        self.backend = backend
        self.terminal: dict[int, str] = {}
        self.mine: list[int] = []
        self.rearmed: list[float] = []

    def teardown(self) -> None:
        self.overrides.disable()

    def fresh(self, pk: int) -> ExampleProcess:
        return ExampleProcess.objects.get(pk=pk)

    @rule(target=processes, kind=st.sampled_from(["succeed", "fail"]), tiny=st.booleans())
    def create(self, kind: str, tiny: bool) -> int:
        timeout = timedelta(microseconds=1) if tiny else timedelta(minutes=5)
        process = ExampleProcess.objects.create(kind=kind, seconds=0, lines=1, timeout=timeout)
        self.mine.append(process.pk)
        return process.pk

    @rule(pk=processes)
    def start(self, pk: int) -> None:
        process = self.fresh(pk)
        try:
            process.start()
        except ProcessNotStartable:
            assert process.status != status.PENDING or process.dispatched_at is not None
        else:
            self.reran(process)

    @rule(pk=processes)
    def restart(self, pk: int) -> None:
        process = self.fresh(pk)
        try:
            process.restart()
        except ProcessNotStartable:
            assert process.status not in rerun.RESTARTABLE or process.finished_at is None
        else:
            self.reran(process)

    def reran(self, process: ExampleProcess) -> None:
        """A start() or restart() that was accepted: a terminal status may be left, to pending."""
        assert self.fresh(process.pk).status == status.PENDING
        self.terminal.pop(process.pk, None)

    @rule(pk=processes, with_task=st.booleans())
    def deliver(self, pk: int, with_task: bool) -> None:
        """The worker receives the process task (again, or a stale one, or a direct call)."""
        self.fresh(pk).execute(task_id="run-x" if with_task else "", hostname="worker")

    @rule(pk=processes)
    def cancel(self, pk: int) -> None:
        self.fresh(pk).cancel()

    @rule(pk=processes)
    def watchdog(self, pk: int) -> None:
        supervisor.fire_watchdog(self.fresh(pk), rearm=self.rearmed.append, backend=self.backend)

    @rule(pk=processes)
    def worker_lost(self, pk: int) -> None:
        supervisor.mark_worker_lost(self.fresh(pk), "killed by the machine")

    @rule(pk=consumes(processes))
    def forget(self, pk: int) -> None:
        """Stop acting on one process (keeps the bundle small)."""

    @invariant()
    def terminal_is_final(self) -> None:
        for process in ExampleProcess.objects.filter(pk__in=self.mine):
            assert process.status in dict(status.STATUS)
            before = self.terminal.get(process.pk)
            if before is not None:
                assert process.status == before, f"{before} became {process.status}"
            if process.status in status.TERMINAL:
                self.terminal[process.pk] = process.status
                assert process.finished_at is not None  # every kill here is confirmed
            count = process.log_count()
            assert list(process.logs.values_list("sequence", flat=True)) == list(
                range(1, count + 1)
            )


Lifecycle.TestCase.settings = settings(max_examples=60, stateful_step_count=12, deadline=None)


def test_lifecycle(db: None) -> None:
    from hypothesis.stateful import run_state_machine_as_test

    run_state_machine_as_test(Lifecycle, settings=Lifecycle.TestCase.settings)
