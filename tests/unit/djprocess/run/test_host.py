"""``djprocess.run.host``: this host's names, its pid namespace, whether a process lives."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import psutil

from djprocess.run import host


def wait_until_zombie(proc: psutil.Process, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while proc.status() != psutil.STATUS_ZOMBIE:
        assert time.monotonic() < deadline, f"pid {proc.pid} did not exit"
        time.sleep(0.01)


def test_this_host_is_recognised_and_another_is_not() -> None:
    assert host.hostname() == socket.gethostname()
    assert host.is_this_host(socket.gethostname())
    assert host.is_this_host(os.uname().nodename)
    assert not host.is_this_host(socket.gethostname() + "-elsewhere")


def test_pid_namespace_names_this_process_s_namespace() -> None:
    assert host.pid_namespace() == os.readlink("/proc/self/ns/pid")


def test_a_running_child_is_alive_a_zombie_is_not_and_a_reaped_pid_does_not_run() -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE
    )
    proc = psutil.Process(child.pid)
    assert host.is_alive(proc)
    assert host.pid_running(child.pid)

    assert child.stdin is not None
    child.stdin.close()  # the child exits; not reaped yet, it is a zombie
    wait_until_zombie(proc)
    assert not host.is_alive(proc)
    assert not host.pid_running(child.pid)

    child.wait()
    assert not host.is_alive(proc)
    assert not host.pid_running(child.pid)
