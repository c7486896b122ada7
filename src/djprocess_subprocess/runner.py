"""``python -m djprocess_subprocess.runner <label> <pk> [options]``: the run's interpreter.

Started by an executor in the pool child that claimed the process; it never claims nor
records a status itself (:func:`djprocess.run.child.serve` calls ``run()`` and reports
how it ended). Options:

``--report-fd N``
    the pipe to report the outcome on (a native run, with database access);
``--tag TAG``
    the PostgreSQL ``application_name`` of its sessions;
``--parent-pid PID``
    die with that pool child;
``--relay``
    no database access (a sandbox): the process is read from stdin (Django's JSON
    serialization), and its log lines, progress, printed output and outcome are sent as
    JSON lines on stdout (:mod:`djprocess.run.relay`).

Without options (as djprocess 0.0.1 started it) it runs ``process.execute()`` inline:
claimed here, no timeout enforced; exit status 0 if it succeeded, else 1.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import traceback
from typing import Any

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m djprocess_subprocess.runner")
    parser.add_argument("label", help="the process model, app_label.modelname")
    parser.add_argument("pk", help="the process's primary key")
    parser.add_argument("--report-fd", type=int, default=None)
    parser.add_argument("--tag", default="")
    parser.add_argument("--parent-pid", type=int, default=None)
    parser.add_argument("--relay", action="store_true")
    return parser


def _load(label: str, pk: str, relay_mode: bool) -> Any:
    from djprocess.backends.labels import resolve

    model = resolve(label)
    if relay_mode:
        from django.core import serializers

        (found,) = serializers.deserialize("json", sys.stdin.buffer.read())
        process = found.object
        if type(process) is not model or str(process.pk) != pk:
            raise SystemExit(f"stdin holds {process!r}, not {label} pk={pk}")
        return process
    return model._base_manager.get(pk=pk)


def _relay_failure(exc: BaseException) -> None:
    """Print why the run could not start and wait until it is relayed: an interpreter that
    exits at once would lose what its relay threads have not sent yet."""
    from djprocess.run import relay

    if isinstance(exc, SystemExit) and isinstance(exc.code, str):
        print(exc.code, file=sys.stderr)
    elif not isinstance(exc, SystemExit):
        traceback.print_exception(exc, file=sys.stderr)
    sys.stderr.flush()
    if relay.active is not None:
        relay.active.drain()


def main(argv: list[str] | None = None) -> None:
    """Run the process named on the command line; see the module docstring. Exits."""
    # A native run starts with SIGTERM blocked (inherited); a sandbox's init does not:
    # block it as early as we can, so that a stop is delivered into run(), not lost.
    signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGTERM])
    args = _parser().parse_args(sys.argv[1:] if argv is None else argv)
    if "DJANGO_SETTINGS_MODULE" not in os.environ:
        raise SystemExit("DJANGO_SETTINGS_MODULE is not set")
    report_fd = args.report_fd
    if args.relay:
        from djprocess.run import relay

        # fd 1 becomes the report channel; what the run prints is relayed on it.
        report_fd = os.dup(1)
        relay.active = relay.Relay(report_fd)
        relay.active.capture_output()
        sys.stdout = os.fdopen(1, "w", buffering=1, closefd=False)
        sys.stderr = os.fdopen(2, "w", buffering=1, closefd=False)
    try:
        import django

        django.setup()
        process = _load(args.label, args.pk, args.relay)
    except BaseException as exc:
        if not args.relay:
            raise
        _relay_failure(exc)
        raise SystemExit(1) from None
    if report_fd is None:
        from djprocess import status

        final = process.execute()
        raise SystemExit(0 if final == status.SUCCEEDED else 1)
    from djprocess.run import child as runchild

    runchild.serve(
        process,
        report_fd,
        tag="" if args.relay else args.tag,
        parent_pid=None if args.relay else args.parent_pid,
        own_group=False,
    )


if __name__ == "__main__":
    main()
