"""Example process models, one per behaviour the demo and the tests need."""

from __future__ import annotations

import logging
import signal
import subprocess
import threading
import time

from django.db import connection, models, transaction

from djprocess.models import BaseProcess, BaseProcessLog

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
    )

    kind = models.CharField(max_length=32, choices=KINDS, default="succeed")
    seconds = models.FloatField(default=1.0)
    lines = models.PositiveIntegerField(default=3)

    def run(self) -> None:
        getattr(self, f"_run_{self.kind}")()

    def _run_succeed(self) -> None:
        for number in range(1, self.lines + 1):
            self.log(f"working on item {number}/{self.lines}")
            time.sleep(self.seconds / max(self.lines, 1))
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
