"""The Celery backend reads remote-control replies strictly: an error is never "not running".

Celery's broadcast is replaced by a function returning what a worker replied (the transport is
not what is tested here; the integration suite drives real workers)."""

from __future__ import annotations

from typing import Any

import pytest

from djprocess.backends.base import Liveness
from djprocess.exceptions import KillControlError

pytestmark = pytest.mark.celery


def replying(monkeypatch: pytest.MonkeyPatch, *replies: dict[str, Any]) -> list[str]:
    from celery import current_app

    sent: list[str] = []

    def broadcast(command: str, **options: Any) -> list[dict[str, Any]]:
        sent.append(command)
        return [{"w1@host": reply} for reply in replies]

    monkeypatch.setattr(current_app.control, "broadcast", broadcast)
    return sent


def test_an_error_reply_to_a_kill_is_an_error_not_a_finished_run(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from djprocess_celery.backend import CeleryWorkerBackend

    replying(monkeypatch, {"error": "OSError: [Errno 28] No space left on device"})
    with pytest.raises(KillControlError, match="No space left on device"):
        CeleryWorkerBackend().kill("t-1", hostname="w1@host", pid=7)


def test_an_error_reply_to_a_probe_is_unreachable_not_gone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from djprocess_celery.backend import CeleryWorkerBackend

    replying(monkeypatch, {"error": "boom"})
    assert CeleryWorkerBackend().probe("t-1", hostname="w1@host") is Liveness.UNREACHABLE


def test_a_plain_not_found_reply_is_gone(monkeypatch: pytest.MonkeyPatch) -> None:
    from djprocess_celery.backend import CeleryWorkerBackend

    sent = replying(monkeypatch, {"found": False, "known": True})
    result = CeleryWorkerBackend().kill("t-1", hostname="w1@host", pid=7)
    assert (result.found, result.gone) == (False, True)
    assert sent == ["djprocess_signal"]


def test_a_malformed_reply_is_an_error_not_a_finished_run(monkeypatch: pytest.MonkeyPatch) -> None:
    from djprocess_celery.backend import CeleryWorkerBackend

    replying(monkeypatch, {"found": "maybe", "known": True})
    with pytest.raises(KillControlError, match="reply key 'found' has a bad value 'maybe'"):
        CeleryWorkerBackend().kill("t-1", hostname="w1@host", pid=7)
    assert CeleryWorkerBackend().probe("t-1", hostname="w1@host") is Liveness.UNREACHABLE
