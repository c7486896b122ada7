"""Per-process marker files shared by a worker's main process and its pool children.

A kill is decided in one process (the worker's main process) and felt in another
(the pool child). Between the two, a run can end and the child can move on, so
the child itself must be able to tell a signal meant for its current run from a
late one. Two small files per pool child, in a private runtime folder, carry that:

* ``run-<pid>``: the task id the child is executing now (``done:<id>`` once
  ``execute()`` has finished with it), written by the child;
* ``kill-<pid>``: the task id a SIGTERM is meant for, written by the main process
  just before it signals; the child reads and removes it in its handler.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

DONE_PREFIX = "done:"

#: Set in worker pool children (see ``signalguard.install_stray_kill_filter``): only
#: there is anyone on the other side to read the markers.
enabled = False


def runtime_dir() -> Path:
    """The folder for marker files (``/dev/shm/djprocess-<uid>`` where available)."""
    base = Path("/dev/shm") if os.access("/dev/shm", os.W_OK) else Path(tempfile.gettempdir())
    folder = base / f"djprocess-{os.getuid()}"
    folder.mkdir(mode=0o700, exist_ok=True)
    return folder


def _write(path: Path, text: str) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}")
    temporary.write_text(text)
    temporary.replace(path)  # atomic: a reader never sees half a task id


def _read(path: Path) -> str | None:
    try:
        return path.read_text()
    except OSError:
        return None


def mark_running(task_id: str) -> None:
    """In the pool child: ``task_id`` is running here now."""
    _write(runtime_dir() / f"run-{os.getpid()}", task_id)


def mark_done(task_id: str) -> None:
    """In the pool child: the run of ``task_id`` is over (its outcome is recorded)."""
    _write(runtime_dir() / f"run-{os.getpid()}", DONE_PREFIX + task_id)


def running_task(pid: int) -> str | None:
    """What child ``pid`` says it runs: a task id, ``"done:<id>"`` or None."""
    return _read(runtime_dir() / f"run-{pid}")


def request_kill(pid: int, task_id: str) -> None:
    """In the main process, before signalling ``pid``: the signal is for ``task_id``."""
    _write(runtime_dir() / f"kill-{pid}", task_id)


def take_kill_request() -> str | None:
    """In the child's SIGTERM handler: the task id the signal was meant for (consumed),
    or None if the signal did not come from djprocess."""
    path = runtime_dir() / f"kill-{os.getpid()}"
    text = _read(path)
    with contextlib.suppress(OSError):
        path.unlink()
    return text


def forget_process(pid: int | None = None) -> None:
    """Drop the markers of ``pid`` (default: this process): in a new pool child (a
    previous process with its pid may have left some), or for a child that exits."""
    pid = os.getpid() if pid is None else pid
    for name in (f"run-{pid}", f"kill-{pid}"):
        with contextlib.suppress(OSError):
            (runtime_dir() / name).unlink()
