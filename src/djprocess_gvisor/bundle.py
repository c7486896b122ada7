"""The OCI bundle a sandboxed run starts from: what it can see of the host.

* the root is an empty, **read-only** directory;
* read-only: the system's programs and libraries (``/usr``, ``/lib*``, ``/bin``,
  ``/sbin`` as on the host), the Python installation and virtualenv of the worker, and the
  directories on its ``sys.path`` (the project's code);
* a private, empty ``/tmp`` (memory-backed, gone with the sandbox);
* ``/proc`` of the sandbox (its own processes only: a PID namespace);
* nothing else of the host, unless listed in ``DJPROCESS_GVISOR_MOUNTS``.

The network is the executor's choice (``--network``), not the bundle's: the sandbox
always gets its own network namespace.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

__all__ = ["SYSTEM_PATHS", "mounts", "python_paths", "write_bundle"]

#: Host directories of programs and shared libraries, mounted read-only (or re-created as
#: the same symlinks, on a merged-/usr system).
SYSTEM_PATHS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")


def python_paths() -> list[str]:
    """The worker's Python: its prefixes and every existing ``sys.path`` directory,
    without those inside another one or inside :data:`SYSTEM_PATHS`."""
    candidates = [sys.prefix, sys.base_prefix, sys.exec_prefix, *sys.path]
    candidates.append(str(Path(os.path.realpath(sys.executable)).parent.parent))
    found = {os.path.realpath(p) for p in candidates if p and os.path.isdir(p)}
    found |= {os.path.abspath(p) for p in candidates if p and os.path.isdir(p)}
    return _outermost(found, covered=SYSTEM_PATHS)


def _outermost(paths: Iterable[str], covered: Sequence[str] = ()) -> list[str]:
    kept: list[str] = []
    for path in sorted(set(paths), key=len):
        inside = [*covered, *kept]
        if any(path == top or path.startswith(top.rstrip("/") + "/") for top in inside):
            continue
        kept.append(path)
    return kept


def _bind(source: str, destination: str, read_only: bool = True) -> dict[str, Any]:
    return {
        "destination": destination,
        "type": "bind",
        "source": source,
        "options": ["rbind", "ro" if read_only else "rw", "nosuid", "nodev"],
    }


def mounts(extra: Sequence[dict[str, Any]] = ()) -> list[dict[str, Any]]:
    """The OCI ``mounts`` of a sandboxed run; ``extra``: ``DJPROCESS_GVISOR_MOUNTS``
    entries ``{"source": str, "destination": str (default: source), "read_only": bool
    (default True)}``."""
    found: list[dict[str, Any]] = [
        {"destination": "/proc", "type": "proc", "source": "proc"},
        {
            "destination": "/tmp",
            "type": "tmpfs",
            "source": "tmpfs",
            "options": ["nosuid", "nodev", "mode=1777"],
        },
    ]
    for path in SYSTEM_PATHS:
        if os.path.isdir(path) and not os.path.islink(path):
            found.append(_bind(path, path))
    found += [_bind(path, path) for path in python_paths()]
    for mount in extra:
        source = str(mount["source"])
        found.append(
            _bind(source, str(mount.get("destination", source)), bool(mount.get("read_only", True)))
        )
    return found


def write_bundle(
    directory: Path,
    args: Sequence[str],
    env: dict[str, str],
    *,
    hostname: str,
    extra_mounts: Sequence[dict[str, Any]] = (),
) -> Path:
    """Write ``config.json`` and an empty ``rootfs`` (with the host's ``/bin``-style
    symlinks) into ``directory``; returns ``directory``."""
    rootfs = directory / "rootfs"
    rootfs.mkdir(mode=0o755)
    for path in SYSTEM_PATHS:
        if os.path.islink(path):
            (rootfs / path.lstrip("/")).symlink_to(os.readlink(path))
    config = {
        "ociVersion": "1.0.0",
        "process": {
            "terminal": False,
            "user": {"uid": os.getuid(), "gid": os.getgid()},
            "args": list(args),
            "env": [f"{key}={value}" for key, value in env.items()],
            "cwd": "/tmp",
        },
        "root": {"path": "rootfs", "readonly": True},
        "hostname": hostname,
        "mounts": mounts(extra_mounts),
        "linux": {
            "namespaces": [
                {"type": "pid"},
                {"type": "ipc"},
                {"type": "uts"},
                {"type": "mount"},
                {"type": "network"},
            ],
        },
    }
    (directory / "config.json").write_text(json.dumps(config, indent=2))
    return directory
