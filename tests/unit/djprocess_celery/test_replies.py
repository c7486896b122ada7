"""``djprocess_celery.replies.TaskReply``: the typed form of a worker's remote-control reply."""

from __future__ import annotations

import pytest

from djprocess_celery.replies import MalformedReply, TaskReply

pytestmark = pytest.mark.celery


@pytest.mark.parametrize(
    ("wire", "reply"),
    [
        ({"found": False}, TaskReply()),
        ({"found": True, "known": True, "pid": 12, "alive": True},
         TaskReply(found=True, known=True, pid=12, alive=True)),
        ({"found": True, "starting": True, "pid": None}, TaskReply(found=True, starting=True)),
        ({"found": False, "mismatch": 40}, TaskReply(mismatch=40)),
        ({"found": False, "ended": True, "pid": 9}, TaskReply(ended=True, pid=9)),
        ({"stale": True}, TaskReply(stale=True)),
        ({"found": True, "known": True, "pid": 3, "signalled": "SIGKILL", "tree": 2},
         TaskReply(found=True, known=True, pid=3, signalled="SIGKILL", tree=2)),
        ({"found": True, "known": True, "pid": 3, "unsupported": "celery.concurrency.solo"},
         TaskReply(found=True, known=True, pid=3, unsupported="celery.concurrency.solo")),
        ({"error": "No space left on device"}, TaskReply(error="No space left on device")),
        ({"found": True, "from_a_newer_worker": [1, 2]}, TaskReply(found=True)),
    ],
)  # fmt: skip
def test_what_workers_send_is_read_back(wire: dict[str, object], reply: TaskReply) -> None:
    assert TaskReply.from_reply(wire) == reply


def test_the_wire_form_holds_only_what_differs_from_the_defaults() -> None:
    reply = TaskReply(found=True, known=True, pid=12, alive=False)
    assert reply.to_reply() == {"found": True, "known": True, "pid": 12, "alive": False}
    assert TaskReply.from_reply(reply.to_reply()) == reply
    assert TaskReply().to_reply() == {}


@pytest.mark.parametrize(
    ("wire", "named"),
    [
        ("found", "'found'"),
        (None, "None"),
        ({"found": "yes"}, "'found'"),
        ({"pid": "12"}, "'pid'"),
        ({"pid": True}, "'pid'"),
        ({"tree": 1.5}, "'tree'"),
        ({"alive": 1}, "'alive'"),
        ({"signalled": 15}, "'signalled'"),
        ({"stale": None}, "'stale'"),
    ],
)
def test_a_malformed_reply_is_refused_naming_what_is_wrong(wire: object, named: str) -> None:
    with pytest.raises(MalformedReply, match=named):
        TaskReply.from_reply(wire)
