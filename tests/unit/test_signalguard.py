"""``djprocess.signalguard.SignalGuard``: SIGTERM as an exception, handlers restored."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

from djprocess.exceptions import ProcessTerminated
from djprocess.signalguard import SignalGuard


def sigterm_self_and_wait() -> None:
    os.kill(os.getpid(), signal.SIGTERM)
    wait_for_signal()


def wait_for_signal() -> None:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        time.sleep(0.01)
    pytest.fail("the signal did not arrive within 5 s")


def test_armed_sigterm_raises_and_disarmed_is_only_remembered() -> None:
    before = signal.getsignal(signal.SIGTERM)
    with SignalGuard() as guard:
        with pytest.raises(ProcessTerminated) as caught, guard.arm():
            sigterm_self_and_wait()
        assert caught.value.signum == signal.SIGTERM
        guard.received = None
        os.kill(os.getpid(), signal.SIGTERM)  # outside arm(): no exception
        deadline = time.monotonic() + 5
        while guard.received is None and time.monotonic() < deadline:
            time.sleep(0.01)
        assert guard.received == signal.SIGTERM
    assert signal.getsignal(signal.SIGTERM) is before


def test_process_terminated_is_not_an_exception() -> None:
    assert not issubclass(ProcessTerminated, Exception)
    assert issubclass(ProcessTerminated, BaseException)


def test_arm_reinstalls_its_handler_after_the_run_replaced_it() -> None:
    with SignalGuard() as guard:
        with guard.arm():
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
        with pytest.raises(ProcessTerminated), guard.arm():
            sigterm_self_and_wait()


def test_every_handler_is_restored() -> None:
    before = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGUSR1, signal.SIGINT)}
    with SignalGuard():
        signal.signal(signal.SIGUSR1, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    assert {s: signal.getsignal(s) for s in before} == before


def test_outside_the_main_thread_it_changes_nothing() -> None:
    before = signal.getsignal(signal.SIGTERM)
    states: list[bool] = []

    def work() -> None:
        with SignalGuard() as guard:
            states.append(guard.active)
            states.append(signal.getsignal(signal.SIGTERM) is before)

    thread = threading.Thread(target=work)
    thread.start()
    thread.join(5)
    assert states == [False, True]


def test_signal_mask_and_pending_alarm_are_restored() -> None:
    """A run that blocks signals or leaves an alarm() pending must not pass them on."""
    mask_before = signal.pthread_sigmask(signal.SIG_BLOCK, [])
    with SignalGuard():
        signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGUSR2, signal.SIGTERM])
        signal.setitimer(signal.ITIMER_REAL, 30)
    assert signal.pthread_sigmask(signal.SIG_BLOCK, []) == mask_before
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)
