"""``python -m djprocess_example demo [--broker URL]``."""

from __future__ import annotations

import argparse
import sys


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
    args = parser.parse_args(argv)
    from djprocess_example.demo import run_demo

    return run_demo(broker=args.broker, state_dir=args.state_dir)


if __name__ == "__main__":
    sys.exit(main())
