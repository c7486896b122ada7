"""What a run sends back to the process supervising it, and how it reaches the database.

A run reports on a pipe as JSON lines (:func:`djprocess.run.relay.encode`):

* ``{"result": "succeeded" | "failed" | "terminated", ...}``: how ``run()`` ended (the
  last one read wins);
* ``{"log": [{"message": str, "level": str, "extra": {...}}, ...]}``: log lines written by
  a run that has no database access of its own (a gVisor sandbox);
* ``{"progress": [current, total]}``: the same for
  :meth:`~djprocess.models.BaseProcess.set_progress`;
* ``{"out": str}`` / ``{"err": str}``: a line its stdout / stderr printed (from a run whose
  output is relayed on the report pipe).

A run's raw stdout and stderr, when piped to the supervisor, are fed line by line
(:meth:`RunOutput.output_feeder`). Lines become log lines in the order they were read:
stdout at ``INFO``, stderr at ``WARNING``.

The supervisor's loop only reads (non-blocking) and queues: one writer thread per run
writes the queue to the database in batches (one transaction each), so a run that prints
megabytes never blocks on a full pipe and a slow or unreachable database never delays a
deadline. Memory grows with what is queued and not yet written.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ObjectDoesNotExist
from django.db import DatabaseError, connections

from djprocess import _clock as clock
from djprocess.logs import LogEntry

if TYPE_CHECKING:
    from djprocess.models import BaseProcess

logger = logging.getLogger("djprocess.run.output")

__all__ = ["MAX_LINE_BYTES", "STDERR_LEVEL", "STDOUT_LEVEL", "RunOutput"]

#: A line longer than this many bytes is cut into several log lines.
MAX_LINE_BYTES = 64 * 1024
#: A report message longer than this many bytes is not read as one (it is cut, and lost).
MAX_REPORT_BYTES = 16 * 1024 * 1024
#: Log lines written per transaction at most.
BATCH_LINES = 1000
#: Seconds the writer keeps retrying a batch through a database outage before it drops it.
WRITE_RETRY_SECONDS = 120.0
#: Levels of the lines a run printed.
STDOUT_LEVEL, STDERR_LEVEL = "INFO", "WARNING"


class RunOutput:
    """Collects a run's report and writes its lines to ``process``'s log, in order.

    Use :meth:`feed_report` / :meth:`output_feeder` from the supervisor's loop, then
    :meth:`close` once the run is gone (before its outcome is recorded, so that the last
    line of the log is the outcome's).
    """

    def __init__(self, process: BaseProcess) -> None:
        self.process = process
        #: The last ``{"result": ...}`` message read, or ``{}``.
        self.report: dict[str, Any] = {}
        self._partial: dict[str, bytes] = {}
        self._queue: queue.SimpleQueue[tuple[str, Any] | None] = queue.SimpleQueue()
        self._writer: threading.Thread | None = None
        self.written = 0
        self.dropped = 0

    # -- reading (the supervisor's loop: never blocks) ----------------------------

    def feed_report(self, data: bytes) -> None:
        """Take bytes read from the report pipe (b"" at end of file)."""
        for line in self._lines("report", data):
            try:
                message = json.loads(line)
            except ValueError:
                self._put_line(line.decode(errors="replace"), STDOUT_LEVEL)
                continue
            if not isinstance(message, dict):
                continue
            if "result" in message:
                self.report = message
            for entry in message.get("log") or ():
                if isinstance(entry, dict):
                    self._put("log", entry)
            if "progress" in message:
                self._put("progress", message["progress"])
            for key, level in (("out", STDOUT_LEVEL), ("err", STDERR_LEVEL)):
                if key in message:
                    self._put_line(str(message[key]), level)

    def output_feeder(self, level: str) -> Callable[[bytes], None]:
        """A function that takes bytes a run printed (b"" at end of file) at ``level``."""

        def feed(data: bytes) -> None:
            for line in self._lines(level, data):
                self._put_line(line.decode(errors="replace"), level)

        return feed

    def _lines(self, stream: str, data: bytes) -> list[bytes]:
        buffer = self._partial.get(stream, b"") + data
        *whole, rest = buffer.split(b"\n")
        # A report message is whole or useless: only printed lines are cut.
        limit = MAX_REPORT_BYTES if stream == "report" else MAX_LINE_BYTES
        lines = [part for line in whole for part in _cut(line, limit)]
        while len(rest) > limit:
            lines.append(rest[:limit])
            rest = rest[limit:]
        if not data and rest:  # end of file: the last line had no newline
            lines.append(rest)
            rest = b""
        self._partial[stream] = rest
        return [line.removesuffix(b"\r") for line in lines]

    def _put_line(self, text: str, level: str) -> None:
        self._put("log", {"message": text, "level": level})

    def _put(self, kind: str, value: Any) -> None:
        if self._writer is None:
            self._writer = threading.Thread(
                target=self._write_all, name=f"djprocess-output-{self.process.pk}", daemon=True
            )
            self._writer.start()
        self._queue.put((kind, value))

    # -- writing (its own thread) ---------------------------------------------------

    def close(self, timeout: float = WRITE_RETRY_SECONDS + 10) -> None:
        """Write what is still queued (partial last lines included) and stop the writer;
        waits at most ``timeout`` seconds."""
        for stream in list(self._partial):
            feed = self.feed_report if stream == "report" else self.output_feeder(stream)
            feed(b"")
        if self._writer is None:
            return
        self._queue.put(None)
        self._writer.join(timeout)

    def _write_all(self) -> None:
        gone = False
        try:
            while True:
                item = self._queue.get()
                if item is None:
                    return
                batch = [item]
                while len(batch) < BATCH_LINES:
                    try:
                        following = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if following is None:
                        self._queue.put(None)  # seen after this batch
                        break
                    batch.append(following)
                if gone:
                    self.dropped += len(batch)
                    continue
                gone = not self._write_batch(batch)
        finally:
            with contextlib.suppress(Exception):
                connections.close_all()

    def _write_batch(self, batch: list[tuple[str, Any]]) -> bool:
        """Write ``batch`` in order; False if the row is gone (nothing more to write)."""
        process = self.process
        entries: list[LogEntry] = []
        for kind, value in batch:
            if kind == "log":
                entries.append(
                    LogEntry(
                        message=value.get("message", ""),
                        level=value.get("level", "INFO"),
                        extra=value.get("extra") or None,
                    )
                )
                continue
            if not self._retry(functools.partial(process.log_many, entries), len(entries)):
                return False
            entries = []
            with contextlib.suppress(TypeError, ValueError):
                current, total = value
                if not self._retry(functools.partial(process.set_progress, current, total), 0):
                    return False
        return self._retry(functools.partial(process.log_many, entries), len(entries))

    def _retry(self, action: Callable[[], Any], lines: int) -> bool:
        give_up = clock.monotonic() + WRITE_RETRY_SECONDS
        pause = 0.1
        while True:
            try:
                action()
                self.written += lines
                return True
            except ObjectDoesNotExist:
                self.dropped += lines
                return False
            except DatabaseError as exc:
                if clock.monotonic() > give_up:
                    logger.error("%s pk=%s: %d output line(s) not written: %s",
                                 self.process._meta.label, self.process.pk, lines, exc)  # fmt: skip
                    self.dropped += lines
                    return True
                for connection in connections.all(initialized_only=True):
                    with contextlib.suppress(Exception):
                        connection.close()
                time.sleep(pause)
                pause = min(pause * 2, 2.0)


def _cut(line: bytes, limit: int) -> list[bytes]:
    return [line[start : start + limit] for start in range(0, len(line), limit)] or [b""]
