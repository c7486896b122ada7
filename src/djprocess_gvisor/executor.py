"""The gVisor executor: each run in its own ``runsc`` sandbox.

The pool child writes an OCI bundle (:mod:`djprocess_gvisor.bundle`), starts
``runsc run`` in a session of its own and holds it as its child: the sandbox lives as long
as that ``runsc run`` does, and the run inside is the sandbox's init process, so when it
ends every process it started ends with it. A stop is ``runsc kill <id> SIGTERM`` (to the
run), then ``runsc kill --all <id> SIGKILL`` and SIGKILL to the ``runsc`` processes;
afterwards ``runsc delete --force`` and the bundle is removed: ``runsc list`` shows
nothing of it.

The run has no database access: ``DJPROCESS_GVISOR_NETWORK = "none"`` (the default) gives
the sandbox a loopback interface only. The process is passed in on stdin (Django's JSON
serialization) and everything it writes comes back on stdout as report lines
(:mod:`djprocess.run.relay`), which the pool child writes to the database. That pipe is the
only way out of the sandbox.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import os
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.core import serializers
from django.core.checks import CheckMessage, Error, Warning

from djprocess.run.launch import signal_group
from djprocess_gvisor import conf
from djprocess_gvisor.bundle import write_bundle
from djprocess_subprocess.executor import REPORT, ExecutionHandle, RunRequest
from djprocess_subprocess.native import close_channels, handle_for, reap, runner_command

__all__ = ["GvisorExecutor"]

#: Seconds a ``runsc kill`` / ``runsc delete`` may take.
RUNSC_COMMAND_SECONDS = 10.0
#: ``DJPROCESS_GVISOR_NETWORK`` values.
NETWORKS = ("none", "host")
_PR_SET_PDEATHSIG = 1
#: Environment variables never passed into a sandbox.
HOST_ONLY_ENV = ("LD_PRELOAD", "LD_LIBRARY_PATH", "PYTHONSTARTUP")


class GvisorExecutor:
    """Runs ``python -m djprocess_subprocess.runner --relay`` in a gVisor sandbox.

    Options (``executor_options`` of :setting:`DJPROCESS_WORKER_BACKEND_OPTIONS`) override
    the settings: ``runsc_path``, ``runsc_root``, ``network``, ``runsc_flags``, ``mounts``.
    """

    database_access = False
    sandboxed = True

    def __init__(
        self,
        *,
        runsc_path: str | None = None,
        runsc_root: str | None = None,
        network: str | None = None,
        runsc_flags: list[str] | None = None,
        mounts: list[dict[str, Any]] | None = None,
    ) -> None:
        self.runsc_path = runsc_path or conf.runsc_path()
        self.runsc_root = runsc_root or conf.runsc_root()
        self.network = network or conf.network_mode()
        self.runsc_flags = list(conf.runsc_flags() if runsc_flags is None else runsc_flags)
        self.mounts = list(conf.mounts() if mounts is None else mounts)
        if self.network not in NETWORKS:
            raise ValueError(f"DJPROCESS_GVISOR_NETWORK must be one of {NETWORKS}, not {network!r}")

    def runsc(self, *args: str) -> list[str]:
        """A ``runsc`` command line with this executor's global flags."""
        return [
            self.runsc_path,
            "--root",
            self.runsc_root,
            "--network",
            self.network,
            *self.runsc_flags,
            *args,
        ]

    # -- the executor contract ---------------------------------------------------------

    def launch(self, request: RunRequest) -> ExecutionHandle:
        process = request.process
        label = process._meta.label_lower.replace(".", "-")
        sandbox_id = f"djprocess-{label}-{process.pk}-{uuid.uuid4().hex[:12]}"
        os.makedirs(self.runsc_root, mode=0o700, exist_ok=True)
        workdir = Path(tempfile.mkdtemp(prefix=f"{sandbox_id}-"))
        try:
            env = {k: v for k, v in os.environ.items() if k not in HOST_ONLY_ENV}
            env.update(PYTHONUNBUFFERED="1", PYTHONDONTWRITEBYTECODE="1", HOME="/tmp")
            write_bundle(
                workdir,
                runner_command(request, "--relay"),
                env,
                hostname="djprocess-sandbox",
                extra_mounts=self.mounts,
            )
            proc = subprocess.Popen(
                self.runsc("run", "--bundle", str(workdir), sandbox_id),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,
                # The sandbox (booted --attached) dies with `runsc run`, which dies with
                # the pool child: a pool child killed under a run leaves no sandbox running.
                preexec_fn=_die_with_parent(os.getpid()),
            )
        except BaseException:
            shutil.rmtree(workdir, ignore_errors=True)
            raise
        assert proc.stdin is not None
        assert proc.stdout is not None
        with contextlib.suppress(OSError):  # a sandbox that failed to start: seen at poll
            proc.stdin.write(serializers.serialize("json", [process]).encode())
            proc.stdin.close()
        handle = handle_for(proc, sandbox_id, {proc.stdout.fileno(): REPORT})
        handle.workdir = str(workdir)
        return handle

    def is_alive(self, handle: ExecutionHandle) -> bool:
        return handle.is_alive()

    def poll(self, handle: ExecutionHandle) -> int | None:
        """The status of ``runsc run``; its exit code 128 + N (the sandbox's init killed
        by signal N) is given as "killed by signal N"."""
        status = reap(handle)
        if status is not None and status > 0 and os.WIFEXITED(status):
            code = os.WEXITSTATUS(status)
            if 128 < code < 128 + signal.NSIG:
                return code - 128
        return status

    def wait(self, handle: ExecutionHandle) -> int:
        while (status := self.poll(handle)) is None:
            time.sleep(0.05)
        return os.waitstatus_to_exitcode(status) if status >= 0 else -1

    def terminate(self, handle: ExecutionHandle, signal_name: str) -> None:
        """SIGTERM: to the run (the sandbox's init). SIGKILL: to every process of the
        sandbox, and to the ``runsc`` processes on the host."""
        if not handle.is_alive():
            return
        kill = ["kill", "--all"] if signal_name == "SIGKILL" else ["kill"]
        self._quietly(*kill, handle.sandbox_id, signal_name.removeprefix("SIG"))
        if signal_name == "SIGKILL" and handle.pid is not None:
            signal_group(handle.pid, signal.SIGKILL)

    def cleanup(self, handle: ExecutionHandle) -> None:
        close_channels(handle)
        if handle.sandbox_id:
            self._quietly("delete", "--force", handle.sandbox_id)
        if handle.workdir:
            shutil.rmtree(handle.workdir, ignore_errors=True)

    def _quietly(self, *args: str) -> None:
        with contextlib.suppress(OSError, subprocess.TimeoutExpired):
            subprocess.run(
                self.runsc(*args),
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=RUNSC_COMMAND_SECONDS,
                check=False,
            )

    # -- system checks ------------------------------------------------------------------

    @classmethod
    def check(cls, **kwargs: Any) -> list[CheckMessage]:
        """``djprocess_gvisor.E001`` runsc not found, ``E002`` it cannot start a sandbox on
        this host, ``E003`` a bad ``DJPROCESS_GVISOR_NETWORK``; ``W001`` host network."""
        network = conf.network_mode()
        if network not in NETWORKS:
            return [
                Error(
                    f"DJPROCESS_GVISOR_NETWORK must be one of {NETWORKS}, got {network!r}.",
                    hint='Set DJPROCESS_GVISOR_NETWORK = "none" (no network in the sandbox).',
                    id="djprocess_gvisor.E003",
                )
            ]
        messages: list[CheckMessage] = []
        if network == "host":
            messages.append(
                Warning(
                    'DJPROCESS_GVISOR_NETWORK = "host": sandboxed runs can open connections '
                    "to the host's network, its database and broker included.",
                    hint='Use "none" unless the runs need the network.',
                    id="djprocess_gvisor.W001",
                )
            )
        path = conf.runsc_path()
        if shutil.which(path) is None:
            messages.append(
                Error(
                    f"DJPROCESS_GVISOR_RUNSC_PATH {path!r}: runsc is not installed or not "
                    "executable; every sandboxed run would fail.",
                    hint="Install gVisor (Debian: apt-get install runsc) or set "
                    "DJPROCESS_GVISOR_RUNSC_PATH to the runsc binary.",
                    id="djprocess_gvisor.E001",
                )
            )
            return messages
        problem = sandbox_problem(path, tuple(conf.runsc_flags()))
        if problem:
            messages.append(
                Error(
                    f"runsc cannot start a sandbox on this host: {problem}",
                    hint="Check the runsc flags (DJPROCESS_GVISOR_RUNSC_FLAGS, e.g. "
                    "--platform=ptrace, --ignore-cgroups, --rootless) and that the worker "
                    "may create namespaces.",
                    id="djprocess_gvisor.E002",
                )
            )
        return messages


def _die_with_parent(parent: int) -> Callable[[], None]:
    """A ``preexec_fn`` setting ``PR_SET_PDEATHSIG`` to SIGKILL. The libc function is looked
    up here, before the fork: the child only makes the call."""
    prctl = ctypes.CDLL(None, use_errno=True).prctl

    def set_pdeathsig() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(70)

    return set_pdeathsig


@functools.cache
def sandbox_problem(runsc_path: str, flags: tuple[str, ...]) -> str:
    """Start a sandbox that runs this Python with ``pass`` (once per process): "" if it
    worked, else what went wrong."""
    root = tempfile.mkdtemp(prefix="djprocess-runsc-check-")
    executor = GvisorExecutor(
        runsc_path=runsc_path, runsc_root=f"{root}/state", network="none", runsc_flags=list(flags)
    )
    sandbox_id = f"djprocess-check-{uuid.uuid4().hex[:12]}"
    try:
        os.makedirs(executor.runsc_root, mode=0o700)
        bundle = Path(root) / "bundle"
        bundle.mkdir()
        import sys

        write_bundle(bundle, [sys.executable, "-c", "pass"], {}, hostname="djprocess-check")
        done = subprocess.run(
            executor.runsc("run", "--bundle", str(bundle), sandbox_id),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=60,
            check=False,
        )
        if done.returncode != 0:
            detail = (done.stderr or done.stdout).decode(errors="replace").strip()
            return f"runsc run exited with {done.returncode}: {detail[-500:]}"
        return ""
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"{type(exc).__name__}: {exc}"
    finally:
        executor._quietly("delete", "--force", sandbox_id)
        shutil.rmtree(root, ignore_errors=True)
