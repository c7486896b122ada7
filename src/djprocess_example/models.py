"""Example process models, one per behaviour the demo and the tests need."""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time

from django.db import connection, models, transaction

from djprocess.models import BaseProcess, BaseProcessLog

__all__ = ["ExampleProcess", "ExampleProcessLog"]

logger = logging.getLogger("djprocess_example.work")


class ExampleProcess(BaseProcess):
    """Does what ``kind`` says, for ``seconds`` seconds where that applies."""

    KINDS = (
        ("succeed", "log a few lines and succeed"),
        ("sleep", "sleep; obeys SIGTERM"),
        ("ignore_term", "ignore SIGTERM and sleep"),
        ("fail", "raise an exception"),
        ("tree", "start a shell with two children and wait"),
        ("threads", "log from several threads"),
        ("rollback", "log inside a rolled-back transaction, then fail"),
        ("ignore_term_child", "ignore SIGTERM and wait for a child process (blocked in C)"),
        ("swallow_term", "catch SIGTERM, try to record success in finally, return normally"),
        ("shell_sleep", "subprocess.run('sleep N; echo done', shell=True)"),
        ("detach", "start 'sleep N' in a new session (setsid) and leave it behind, then sleep"),
        ("pg_lock", "take a PostgreSQL advisory lock, then SELECT pg_sleep(N)"),
        ("exit", "end the run's process at once with os._exit(3)"),
        ("cancel_self", "cancel() this process from inside run(), then sleep"),
        ("quiet", "sleep without writing anything, then return"),
        ("print", "print `lines` lines of `seconds` characters to stdout (every 10th to stderr)"),
        ("crash", "end the run's process with a segmentation fault"),
        ("escape", "try to reach Redis and PostgreSQL, write host files, list processes"),
    )

    #: The advisory lock the ``pg_lock`` kind holds (key of ``pg_advisory_lock``).
    PG_LOCK_KEY = 424242

    kind = models.CharField(max_length=32, choices=KINDS, default="succeed")
    seconds = models.FloatField(default=1.0)
    lines = models.PositiveIntegerField(default=3)

    def run(self) -> None:
        getattr(self, f"_run_{self.kind}")()

    def _run_succeed(self) -> None:
        self.set_progress(0, self.lines)
        for number in range(1, self.lines + 1):
            self.log(f"working on item {number}/{self.lines}")
            time.sleep(self.seconds / max(self.lines, 1))
            self.set_progress(number, self.lines)
        logger.info("a library logger speaking from inside run()")
        self.log("all items done")

    def _run_sleep(self) -> None:
        self.log(f"sleeping {self.seconds}s")
        try:
            time.sleep(self.seconds)
        finally:
            self.log("finally block ran")

    def _run_ignore_term(self) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        self.log(f"ignoring SIGTERM and sleeping {self.seconds}s")
        time.sleep(self.seconds)

    def _run_ignore_term_child(self) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        self.log(f"ignoring SIGTERM and waiting for 'sleep {self.seconds}'")
        # The child inherits SIG_IGN; the wait blocks in waitpid().
        child = subprocess.Popen(["sleep", str(self.seconds)])
        self.log(f"child pid {child.pid}")
        child.wait()

    def _run_swallow_term(self) -> None:
        self.log(f"sleeping {self.seconds}s, swallowing any signal")
        try:
            time.sleep(self.seconds)
        except BaseException as exc:  # noqa: BLE001 - the example reports whatever happened
            self.log(f"swallowed {exc!r}")
        finally:
            # A careless run claiming success on its way out; djprocess must ignore it.
            self.status = "succeeded"
            self.save()
            self.log("finally tried to record success")

    def _run_shell_sleep(self) -> None:
        self.log(f"running: sleep {self.seconds:g}; echo done")
        subprocess.run(f"sleep {self.seconds:g}; echo done", shell=True, check=True)

    def _run_detach(self) -> None:
        child = subprocess.Popen(["setsid", "sleep", f"{self.seconds:g}"], start_new_session=True)
        self.log(f"left behind: sleep pid {child.pid} in its own session")
        time.sleep(self.seconds)

    def _run_pg_lock(self) -> None:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(%s)", [self.PG_LOCK_KEY])
            self.log(f"holding advisory lock {self.PG_LOCK_KEY}, sleeping {self.seconds:g}s in SQL")
            cursor.execute("SELECT pg_sleep(%s)", [self.seconds])

    def _run_exit(self) -> None:
        self.log("ending the process with os._exit(3)")
        os._exit(3)

    def _run_cancel_self(self) -> None:
        self.log("cancelling myself")
        self.cancel()
        self.log("cancel() returned")
        time.sleep(self.seconds)

    def _run_quiet(self) -> None:
        time.sleep(self.seconds)

    def _run_print(self) -> None:
        padding = "x" * int(self.seconds)
        for number in range(self.lines):
            print(f"stdout line {number} {padding}")
            if number % 10 == 0:
                print(f"stderr line {number}", file=sys.stderr)
        self.log("printed")

    def _run_crash(self) -> None:
        self.log("dereferencing a NULL pointer")
        ctypes.string_at(0)

    def _run_escape(self) -> None:
        """Log what the run can reach: one line per attempt, "<what>: <result>"."""
        for port in (6379, 5432):
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=2):
                    result = "connected"
            except OSError as exc:
                result = f"refused ({type(exc).__name__})"
            self.log(f"tcp 127.0.0.1:{port}: {result}")
        for path in self.escape_paths():
            try:
                with open(path, "w") as file:
                    file.write("written from inside run()")
                result = "written"
            except OSError as exc:
                result = f"refused ({type(exc).__name__})"
            self.log(f"write {path}: {result}")
        pids = sorted(int(name) for name in os.listdir("/proc") if name.isdigit())
        self.log(f"processes visible: {len(pids)}")

    def escape_paths(self) -> list[str]:
        """Host files the ``escape`` kind tries to write (none may exist afterwards under
        a sandbox): in the project's code, in the host's /tmp, in the root."""
        here = os.path.dirname(os.path.abspath(__file__))
        return [
            os.path.join(here, f"escape-{self.pk}.txt"),
            f"/tmp/djprocess-escape-{self.pk}.txt",
            f"/djprocess-escape-{self.pk}.txt",
        ]

    def _run_fail(self) -> None:
        self.log("about to fail")
        raise RuntimeError("example failure")

    def _run_tree(self) -> None:
        self.log("starting sh -c 'sleep 1000 & sleep 1000'")
        child = subprocess.Popen(["sh", "-c", "sleep 1000 & sleep 1000"])
        self.log(f"shell pid {child.pid}")
        child.wait()

    def _run_threads(self) -> None:
        def write(name: str) -> None:
            try:
                for number in range(self.lines):
                    self.log(f"{name} line {number}", extra={"writer": name, "n": number})
            finally:
                connection.close()  # each thread has its own connection

        threads = [threading.Thread(target=write, args=(f"t{i}",)) for i in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    def _run_rollback(self) -> None:
        with transaction.atomic():
            self.log("inside the transaction that will roll back")
            raise RuntimeError("rolled back")


class ExampleProcessLog(BaseProcessLog):
    # db_index=False: the unique (process, sequence) constraint is the index (djprocess.W001).
    process = models.ForeignKey(
        ExampleProcess, on_delete=models.CASCADE, related_name="logs", db_index=False
    )
