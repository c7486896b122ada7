"""The log: each process's lines, numbered 1, 2, … with no gaps, kept through rollbacks.

Public: :class:`LogEntry` and the functions behind :meth:`BaseProcess.log`,
``log_many()``, ``log_count()``, ``paginate_logs()`` and ``logs_after()``
(:mod:`djprocess.logs.lines`); :func:`djprocess.logs.capture.propagate` for threads;
:mod:`djprocess.logs.sanitize` (how bad input is stored). The modules starting with ``_``
(the numbering statements, the connection a line is written on, the write that a signal
handler cannot cut in half) are private.
"""

from djprocess.logs.lines import LogEntry, append, count, paginate, tail

__all__ = ["LogEntry", "append", "count", "paginate", "tail"]
