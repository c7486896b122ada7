"""``manage.py djprocess_tail LABEL PK``: print a process's log and follow it until the run ends.

Reads with the cursor :meth:`~djprocess.models.BaseProcess.logs_after` (no ``COUNT``, no
``OFFSET``). On a terminal a progress bar is redrawn under the lines; piped, only plain
lines are written, then a last line with the status. Exit codes: 0 the process succeeded;
1 it ended otherwise (failed, cancelled, timed out); 2 unknown model label or pk, or a bad
option; 3 it had not ended when ``--timeout`` expired (or with ``--no-follow``).
"""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from djprocess import display, status
from djprocess.management.lookup import REFUSED, USAGE, add_process_arguments, get_process

__all__ = ["Command"]

#: Exit code when the process was still running when the command stopped following it.
STILL_RUNNING = 3
BATCH = 500
BAR_WIDTH = 30


def progress_bar(process: Any) -> str:
    """``[#########.....]  45% (9/20) running 0:04.2s``-like text of one line."""
    fraction = process.progress
    if fraction is None:
        bar = "[" + "?" * BAR_WIDTH + "]" if process.progress_current is not None else ""
    else:
        filled = round(fraction * BAR_WIDTH)
        bar = "[" + "#" * filled + "." * (BAR_WIDTH - filled) + "]"
    parts = [bar, display.format_progress(process), process.status]
    parts.append(display.format_duration(process.duration))
    return " ".join(part for part in parts if part)


class Command(BaseCommand):
    help = (
        "Print a process's log and follow it until the run ends, with a progress bar on a "
        "terminal (plain lines when piped). Exit codes: 0 succeeded; 1 failed, cancelled or "
        "timed out; 2 unknown model label or pk, bad option; 3 still running when "
        "--timeout expired or with --no-follow."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        add_process_arguments(parser)
        parser.add_argument(
            "-n",
            "--lines",
            type=int,
            default=20,
            metavar="N",
            help="Start with the last N lines (default 20; 0: only new lines).",
        )
        parser.add_argument(
            "--from-start", action="store_true", help="Start with the first line of the log."
        )
        parser.add_argument(
            "--no-follow", action="store_true", help="Print what is there and exit."
        )
        parser.add_argument(
            "--interval",
            type=float,
            default=0.5,
            metavar="SECONDS",
            help="How often to look for new lines (default 0.5).",
        )
        parser.add_argument(
            "--timeout",
            type=float,
            default=None,
            metavar="SECONDS",
            help="Stop following after this long (exit code 3); default: until the run ends.",
        )

    def wait(self, seconds: float) -> None:
        """Pause between two looks at the log (``time.sleep``)."""
        time.sleep(seconds)

    def handle(self, *args: Any, **options: Any) -> None:
        if options["lines"] < 0 or options["interval"] <= 0:
            raise CommandError("--lines must be >= 0 and --interval > 0", returncode=USAGE)
        process = get_process(options["model"], options["pk"])
        after = 0 if options["from_start"] else max(0, process.log_count() - options["lines"])
        tty = self.stdout.isatty()
        deadline = None if options["timeout"] is None else time.monotonic() + options["timeout"]
        bar_shown = False
        while True:
            process.refresh_from_db()
            ended = process.is_finished  # read before the lines: none committed before is missed
            while lines := process.logs_after(after, BATCH):
                if bar_shown:
                    self.stdout.write("\r\x1b[K", ending="")
                    bar_shown = False
                for line in lines:
                    time_text = line.created.strftime("%H:%M:%S.%f")[:12]
                    self.stdout.write(
                        f"{line.sequence:>6} {time_text} {line.level:<8} {line.message}"
                    )
                after = lines[-1].sequence
            if tty and not ended:
                self.stdout.write("\r\x1b[K" + progress_bar(process), ending="")
                self.stdout.flush()
                bar_shown = True
            if ended or options["no_follow"]:
                break
            if deadline is not None and time.monotonic() >= deadline:
                break
            self.wait(options["interval"])
        if bar_shown:
            self.stdout.write("\r\x1b[K", ending="")
        self._finish(process)

    def _finish(self, process: Any) -> None:
        how = display.ended_how(process)
        duration = display.format_duration(process.duration)
        self.stdout.write(
            f"{process._meta.label} {process.pk}: {process.status}"
            f"{f' in {duration}' if duration else ''}{f' ({how})' if how else ''}"
        )
        if not process.is_finished:
            raise CommandError("the process has not ended", returncode=STILL_RUNNING)
        if process.status != status.SUCCEEDED:
            raise CommandError(f"the process ended {process.status}", returncode=REFUSED)
