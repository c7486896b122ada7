"""``djprocess.backends.base``: the base contract and ``KillResult``."""

from __future__ import annotations

import pytest

from djprocess.backends.base import BaseWorkerBackend, KillResult, Liveness


def test_base_class_methods_must_be_implemented() -> None:
    backend = BaseWorkerBackend()
    with pytest.raises(NotImplementedError):
        backend.kill("t")
    with pytest.raises(NotImplementedError):
        backend.revoke_scheduled("t")
    assert backend.probe("t") is Liveness.UNKNOWN
    assert backend.is_eager() is False
    assert list(BaseWorkerBackend.check()) == []
    assert BaseWorkerBackend.supports_kill is True
    assert BaseWorkerBackend.supports_probe is False


@pytest.mark.parametrize(
    ("result", "text", "signal_name"),
    [
        (
            KillResult(found=True, gone=True, term_sent=1, term_retries=3),
            "exited after SIGTERM 1/3",
            "SIGTERM",
        ),
        (
            KillResult(found=True, gone=True, term_sent=3, term_retries=3, kill_sent=True),
            "SIGKILL after 3 SIGTERM",
            "SIGKILL",
        ),
        (
            KillResult(found=True, gone=True, term_sent=0, term_retries=0, kill_sent=True),
            "SIGKILL after 0 SIGTERM",
            "SIGKILL",
        ),
        (
            KillResult(found=True, gone=False, term_sent=3, term_retries=3, kill_sent=True),
            "SIGKILL after 3 SIGTERM, still not confirmed gone",
            "SIGKILL",
        ),
        (
            KillResult(found=True, gone=False, term_sent=2, term_retries=3),
            "not confirmed gone after SIGTERM 2/3",
            "SIGTERM",
        ),
        (KillResult(found=False, gone=True), "was not running any more", ""),
        (
            KillResult(found=True, gone=False, error="no reply from w1"),
            "kill failed: no reply from w1",
            "",
        ),
    ],
)
def test_kill_result_describe(result: KillResult, text: str, signal_name: str) -> None:
    assert result.describe() == text
    assert result.signal_name == signal_name


def test_kill_result_is_frozen_and_keyword_only() -> None:
    result = KillResult(found=True, gone=True)
    with pytest.raises(AttributeError):
        result.gone = False  # type: ignore[misc]
    with pytest.raises(TypeError):
        KillResult(True, True)  # type: ignore[call-arg]
