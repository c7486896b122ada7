"""A run without database access of its own sends what it would write to its supervisor.

Inside a gVisor sandbox with no network (``djprocess_gvisor``) a run cannot reach the
database. Its runner installs a :class:`Relay` as :data:`active`: then
:meth:`~djprocess.models.BaseProcess.log` and
:meth:`~djprocess.models.BaseProcess.set_progress` send JSON lines to the supervisor
(see :mod:`djprocess.run.output`), which writes them, and what the run prints is relayed
the same way. Nothing else of the ORM works there: the sandbox is the security boundary.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
from typing import Any

__all__ = ["Relay", "active", "encode"]

#: The relay of this process, when its run has no database access; else None.
active: Relay | None = None

#: Bytes read at once from a relayed output pipe.
_CHUNK = 65536
#: A printed line longer than this many bytes is relayed as several lines.
MAX_LINE_BYTES = 64 * 1024


def encode(message: dict[str, Any]) -> bytes:
    """One report message as a JSON line (``default=str`` for odd values)."""
    return (json.dumps(message, default=str) + "\n").encode()


class Relay:
    """Writes report messages to ``fd`` (the supervisor's pipe), whole lines at a time,
    from any thread."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self._lock = threading.Lock()
        self._pumps: list[threading.Thread] = []

    def send(self, message: dict[str, Any]) -> None:
        """Write one message; raises :class:`OSError` if the supervisor is gone."""
        data = encode(message)
        with self._lock:
            while data:
                data = data[os.write(self.fd, data) :]

    def log(self, rows: list[tuple[str, str, dict[str, Any], Any]]) -> list[int]:
        """Relay cleaned log rows ``(message, level, extra, created)``. Their sequences
        are given by the supervisor when it writes them: 0 is returned for each."""
        self.send({"log": [{"message": m, "level": lv, "extra": e} for m, lv, e, _ in rows]})
        return [0] * len(rows)

    def progress(self, current: int, total: int | None) -> None:
        """Relay a progress update."""
        self.send({"progress": [current, total]})

    def capture_output(self) -> None:
        """Send what this process (and every process it starts) writes to its file
        descriptors 1 and 2 as ``{"out": line}`` / ``{"err": line}`` messages."""
        for fd, key in ((1, "out"), (2, "err")):
            read_end, write_end = os.pipe()
            os.dup2(write_end, fd)
            os.close(write_end)
            pump = threading.Thread(target=self._pump, args=(read_end, key), daemon=True)
            pump.start()
            self._pumps.append(pump)

    def _pump(self, fd: int, key: str) -> None:
        partial = b""
        with contextlib.suppress(OSError):
            while chunk := os.read(fd, _CHUNK):
                *lines, partial = (partial + chunk).split(b"\n")
                while len(partial) > MAX_LINE_BYTES:  # as the supervisor cuts printed lines
                    lines.append(partial[:MAX_LINE_BYTES])
                    partial = partial[MAX_LINE_BYTES:]
                for line in lines:
                    self.send({key: line.decode(errors="replace")})
        if partial:
            with contextlib.suppress(OSError):
                self.send({key: partial.decode(errors="replace")})

    def drain(self, timeout: float = 1.0) -> None:
        """Close this process's ends of the relayed output and wait up to ``timeout``
        seconds for the last lines to be sent (a process the run left behind may keep
        its copy open; it is stopped by the supervisor)."""
        null = os.open(os.devnull, os.O_WRONLY)
        for fd in (1, 2):
            os.dup2(null, fd)
        os.close(null)
        for pump in self._pumps:
            pump.join(timeout)


def send_report(fd: int, report: dict[str, Any]) -> None:
    """Write the outcome ``report`` on ``fd``, through the active relay if there is one
    (after the last relayed output)."""
    if active is not None:
        active.drain()
        active.send(report)
        return
    data = encode(report)
    while data:
        data = data[os.write(fd, data) :]
