"""``python -m djprocess_example demo|runserver|manage``."""

from __future__ import annotations

import argparse
import sys

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m djprocess_example")
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="run four processes on real workers and print them")
    demo.add_argument(
        "--broker",
        default="filesystem://",
        help="Celery broker URL (default: filesystem://, no server needed)",
    )
    demo.add_argument("--state-dir", default=None, help="where the SQLite file and broker live")
    demo.add_argument(
        "--backend",
        choices=("celery", "subprocess", "gvisor"),
        default="celery",
        help="worker backend: runs forked by Celery's pool children (default), a child "
        "interpreter per run, or a gVisor sandbox per run",
    )
    web = commands.add_parser(
        "runserver", help="serve the web UI and the admin, with its own workers (Ctrl-C stops all)"
    )
    web.add_argument(
        "addrport", nargs="?", default="127.0.0.1:8000", help="HOST:PORT (default 127.0.0.1:8000)"
    )
    web.add_argument("--broker", default="filesystem://", help="Celery broker URL")
    web.add_argument(
        "--state-dir",
        default=None,
        help="SQLite file and broker folder (default: $EXAMPLE_STATE_DIR or ./.demo)",
    )
    manage = commands.add_parser(
        "manage", help="a Django management command on the runserver's state, e.g. djprocess_list"
    )
    manage.add_argument("--broker", default="filesystem://", help="Celery broker URL")
    manage.add_argument("--state-dir", default=None, help="as for runserver")
    manage.add_argument("args", nargs=argparse.REMAINDER, help="the command and its arguments")
    args = parser.parse_args(argv)
    if args.command == "demo":
        from djprocess_example.demo import run_demo

        return run_demo(broker=args.broker, state_dir=args.state_dir, backend=args.backend)
    if args.command == "runserver":
        from djprocess_example.server import run_server

        return run_server(args.addrport, broker=args.broker, state_dir=args.state_dir)
    return _manage(args.broker, args.state_dir, args.args)


def _manage(broker: str, state_dir: str | None, args: list[str]) -> int:
    import os
    from pathlib import Path

    from djprocess_example.server import setup

    state = Path(state_dir or os.environ.get("EXAMPLE_STATE_DIR") or Path.cwd() / ".demo")
    setup(broker, state.resolve())
    from django.core.management import execute_from_command_line

    try:
        execute_from_command_line(["python -m djprocess_example manage", *args])
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
