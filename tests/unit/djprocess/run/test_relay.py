"""``djprocess.run.relay``: a run with no database access sends its lines to its supervisor.

A forked child plays the sandboxed run: it installs a :class:`Relay` on a real pipe, logs,
reports progress and prints (also from a process it starts); this test reads the pipe as
the supervisor does.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from djprocess.run import relay
from djprocess.run.relay import MAX_LINE_BYTES, Relay, send_report


def run_in_child(body: str) -> list[dict[str, object]]:
    """Fork; the child runs ``body`` with ``r`` (an active Relay on the pipe) and ``fd``;
    returns the messages the child sent, in order."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child; measured through its effects
        status = 0
        try:
            os.close(read_end)
            relay.active = Relay(write_end)
            exec(
                body,
                {
                    "r": relay.active,
                    "fd": write_end,
                    "os": os,
                    "send_report": send_report,
                    "subprocess": subprocess,
                    "sys": sys,
                },
            )
        except BaseException:
            status = 1
        os._exit(status)
    os.close(write_end)
    chunks = []
    while chunk := os.read(read_end, 65536):
        chunks.append(chunk)
    os.close(read_end)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    return [json.loads(line) for line in b"".join(chunks).decode().splitlines()]


def test_log_progress_and_the_report_reach_the_supervisor_in_order() -> None:
    messages = run_in_child(
        "assert r.log([('one', 'INFO', {}, None), ('two', 'ERROR', {'k': 1}, None)]) == [0, 0]\n"
        "r.progress(3, 10)\n"
        "send_report(fd, {'outcome': 'succeeded'})\n"
    )
    assert messages == [
        {"log": [{"message": "one", "level": "INFO", "extra": {}},
                 {"message": "two", "level": "ERROR", "extra": {"k": 1}}]},
        {"progress": [3, 10]},
        {"outcome": "succeeded"},
    ]  # fmt: skip


def test_what_the_run_and_its_children_print_is_relayed_before_the_report() -> None:
    messages = run_in_child(
        "r.capture_output()\n"
        "os.write(1, b'to stdout\\n')\n"
        "os.write(2, b'to stderr\\n')\n"
        "subprocess.run([sys.executable, '-c', 'print(\"from a child\")'], check=True)\n"
        "os.write(1, b'x' * (MAX + 10))\n".replace("MAX", str(MAX_LINE_BYTES))
        + "send_report(fd, {'outcome': 'succeeded'})\n"
    )
    out = [m["out"] for m in messages if "out" in m]
    assert out[:2] == ["to stdout", "from a child"]
    # A line longer than MAX_LINE_BYTES is cut into pieces; the unterminated end is kept.
    assert out[2:] == ["x" * MAX_LINE_BYTES, "x" * 10]
    assert [m["err"] for m in messages if "err" in m] == ["to stderr"]
    assert messages[-1] == {"outcome": "succeeded"}


def test_without_a_relay_the_report_is_written_directly() -> None:
    assert relay.active is None
    read_end, write_end = os.pipe()
    send_report(write_end, {"outcome": "failed", "exception": object()})
    os.close(write_end)
    (line,) = os.read(read_end, 65536).decode().splitlines()
    os.close(read_end)
    assert json.loads(line)["outcome"] == "failed"
    assert json.loads(line)["exception"].startswith("<object object at ")  # default=str
