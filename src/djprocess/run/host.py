"""Where a run is supervised: this host's names, its pid namespace, whether a pid still runs.

Pids are compared only within one host and one pid namespace (two containers may share a
host name and even a pid). Public for backend authors.
"""

from __future__ import annotations

import os
import socket

import psutil

__all__ = ["hostname", "is_alive", "is_this_host", "pid_namespace", "pid_running"]


def hostname() -> str:
    """This host's name as :func:`socket.gethostname` gives it."""
    return socket.gethostname()


def is_this_host(host: str) -> bool:
    """True if ``host`` (a bare host name) names this machine."""
    return host in (socket.gethostname(), os.uname().nodename)


def pid_namespace() -> str:
    """This process's pid namespace, e.g. ``"pid:[4026531836]"`` ("" where unknown): pids are
    compared only within one namespace."""
    try:
        return os.readlink("/proc/self/ns/pid")
    except OSError:  # pragma: no cover - not Linux
        return ""


def is_alive(proc: psutil.Process) -> bool:
    """True if ``proc`` still exists and is not a zombie (exited, not yet reaped)."""
    try:
        return proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def pid_running(pid: int) -> bool:
    """True if process ``pid`` of this pid namespace exists and is not a zombie."""
    try:
        return is_alive(psutil.Process(pid))
    except psutil.NoSuchProcess:
        return False
