"""The gVisor executor's settings, ``DJPROCESS_GVISOR_*``, declared here and read at access
time; and what they need of the backend (:data:`NEEDS_SANDBOX`).

Importing this module declares them (the ``djprocess.settings`` entry point imports it).
:func:`runsc_path`, :func:`runsc_root`, :func:`network_mode`, :func:`kill_term_retries` and
:func:`kill_term_wait_seconds` are the names djprocess 0.0.1 had here (the last two read the
core's kill settings, which the sandbox's kill escalation follows). Their values are checked
by the executor's own ``check()`` (``djprocess_gvisor.E001``...), which runs only when it is
the configured executor.
"""

from __future__ import annotations

from typing import Any

from djprocess.conf import Requirement, Setting, declare
from djprocess_subprocess.conf import NEEDS_EXECUTOR, kill_term_retries, kill_term_wait_seconds

__all__ = [
    "GVISOR_MOUNTS",
    "GVISOR_NETWORK",
    "GVISOR_RUNSC_FLAGS",
    "GVISOR_RUNSC_PATH",
    "GVISOR_RUNSC_ROOT",
    "NEEDS_SANDBOX",
    "kill_term_retries",
    "kill_term_wait_seconds",
    "mounts",
    "network_mode",
    "runsc_flags",
    "runsc_path",
    "runsc_root",
]

#: Read only by a backend whose runs are sandboxed (``supports_sandbox``: the subprocess
#: backend with the gVisor executor); set otherwise, the setting is ignored (``djprocess.E018``).
NEEDS_SANDBOX = Requirement(
    "supports_sandbox",
    "runs them outside a sandbox (its executor is not the gVisor one): they would be ignored",
    hint="Set DJPROCESS_SUBPROCESS_EXECUTOR = 'djprocess_gvisor.executor.GvisorExecutor', "
    "or remove them.",
)
_GVISOR = (NEEDS_EXECUTOR, NEEDS_SANDBOX)


def _flags(value: Any) -> list[str]:
    return [str(flag) for flag in value]


def _mounts(value: Any) -> list[dict[str, Any]]:
    return [dict(mount) for mount in value]


#: The ``runsc`` program the gVisor executor runs (``DJPROCESS_GVISOR_RUNSC_PATH``).
GVISOR_RUNSC_PATH = Setting("DJPROCESS_GVISOR_RUNSC_PATH", "runsc", str, requires=_GVISOR)
#: ``runsc --root``: where runsc keeps its sandboxes' state (``DJPROCESS_GVISOR_RUNSC_ROOT``).
GVISOR_RUNSC_ROOT = Setting(
    "DJPROCESS_GVISOR_RUNSC_ROOT", "/run/djprocess-runsc", str, requires=_GVISOR
)
#: ``runsc --network`` of the sandboxes: ``"none"`` or ``"host"`` (``DJPROCESS_GVISOR_NETWORK``).
GVISOR_NETWORK = Setting("DJPROCESS_GVISOR_NETWORK", "none", str, requires=_GVISOR)
#: Further global ``runsc`` flags, e.g. the platform (``DJPROCESS_GVISOR_RUNSC_FLAGS``).
GVISOR_RUNSC_FLAGS = Setting(
    "DJPROCESS_GVISOR_RUNSC_FLAGS",
    ["--platform=ptrace", "--ignore-cgroups"],
    _flags,
    requires=_GVISOR,
)
#: Host paths mounted into the sandboxes besides the Python runtime and the project
#: (``DJPROCESS_GVISOR_MOUNTS``): ``{"source", "destination", "read_only"}`` dicts.
GVISOR_MOUNTS: Setting[list[dict[str, Any]]] = Setting(
    "DJPROCESS_GVISOR_MOUNTS", [], _mounts, requires=_GVISOR
)

declare(GVISOR_RUNSC_PATH, GVISOR_RUNSC_ROOT, GVISOR_NETWORK, GVISOR_RUNSC_FLAGS, GVISOR_MOUNTS)


def runsc_path() -> str:
    """``DJPROCESS_GVISOR_RUNSC_PATH`` (default ``"runsc"``, looked up on ``PATH``)."""
    return GVISOR_RUNSC_PATH.get()


def runsc_root() -> str:
    """``DJPROCESS_GVISOR_RUNSC_ROOT``: the state directory of runsc."""
    return GVISOR_RUNSC_ROOT.get()


def network_mode() -> str:
    """``DJPROCESS_GVISOR_NETWORK``: ``"none"`` (default) or ``"host"``."""
    return GVISOR_NETWORK.get()


def runsc_flags() -> list[str]:
    """``DJPROCESS_GVISOR_RUNSC_FLAGS``: further global ``runsc`` flags (a new list)."""
    return GVISOR_RUNSC_FLAGS.get()


def mounts() -> list[dict[str, Any]]:
    """``DJPROCESS_GVISOR_MOUNTS``: the extra mounts (new dicts)."""
    return GVISOR_MOUNTS.get()
