"""``djprocess_gvisor.bundle``: the OCI bundle ``runsc run`` starts a sandbox from, read
back from the ``config.json`` and ``rootfs`` it writes (no sandbox is started: the
sandboxes run in ``tests/integration/conformance/test_gvisor_sandbox.py``).

What the sandbox may see of the host: a read-only, empty root; the system's programs and
libraries, the worker's Python and its ``sys.path`` read-only; its own ``/proc``, a
private ``/tmp``; its own namespaces, the network's included; and nothing else unless
``DJPROCESS_GVISOR_MOUNTS`` lists it. The paths are the host's real ones, or real
directories under ``tmp_path`` standing in for them (``sys.path`` and
:data:`~djprocess_gvisor.bundle.SYSTEM_PATHS` set for one test).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from djprocess_gvisor import bundle
from djprocess_gvisor.bundle import mounts, python_paths, write_bundle
from djprocess_gvisor.executor import GvisorExecutor
from djprocess_subprocess.executor import ExecutionHandle

ARGS = [sys.executable, "-m", "djprocess_subprocess.runner", "app.model", "7", "--relay"]


def written(directory: Path, **kwargs: Any) -> dict[str, Any]:
    """``write_bundle`` into ``directory`` (made first); its ``config.json``, parsed."""
    directory.mkdir()
    kwargs.setdefault("hostname", "djprocess-sandbox")
    assert write_bundle(directory, kwargs.pop("args", ARGS), kwargs.pop("env", {}), **kwargs) == (
        directory
    )
    config: dict[str, Any] = json.loads((directory / "config.json").read_text())
    return config


def binds(found: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The bind mounts of ``found``, by destination."""
    return {m["destination"]: m for m in found if m["type"] == "bind"}


def inside(path: str, top: str) -> bool:
    return path == top or path.startswith(top.rstrip("/") + "/")


@pytest.fixture
def fake_host(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """System paths under ``tmp_path``: ``usr`` a directory, ``bin`` a symlink to
    ``usr/bin`` (a merged-/usr system), ``lib32`` missing."""
    host = tmp_path / "host"
    (host / "usr" / "bin").mkdir(parents=True)
    (host / "bin").symlink_to("usr/bin")
    monkeypatch.setattr(
        bundle, "SYSTEM_PATHS", tuple(str(host / name) for name in ("usr", "bin", "lib32"))
    )
    return {"usr": host / "usr", "bin": host / "bin", "lib32": host / "lib32"}


# -- config.json ---------------------------------------------------------------------


def test_the_process_runs_the_given_command_as_the_worker_user_in_tmp(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "DJANGO_SETTINGS_MODULE": "a.b", "QUOTED": "x=1 y='2'"}

    config = written(tmp_path / "b", env=env)

    process = config["process"]
    assert process["args"] == ARGS
    assert process["env"] == [
        "PATH=/usr/bin:/bin",
        "DJANGO_SETTINGS_MODULE=a.b",
        "QUOTED=x=1 y='2'",
    ]
    assert process["user"] == {"uid": os.getuid(), "gid": os.getgid()}
    assert process["cwd"] == "/tmp"  # the private tmpfs, the only writable place
    assert process["terminal"] is False  # stdin/stdout stay the pool child's pipes
    assert config["ociVersion"].startswith("1.")


def test_the_root_is_read_only_and_the_hostname_is_the_sandboxs(tmp_path: Path) -> None:
    config = written(tmp_path / "b", hostname="sandbox-7")

    assert config["root"] == {"path": "rootfs", "readonly": True}
    assert (tmp_path / "b" / config["root"]["path"]).is_dir()
    assert config["hostname"] == "sandbox-7"


def test_the_sandbox_gets_its_own_namespaces_the_network_included(tmp_path: Path) -> None:
    config = written(tmp_path / "b")

    namespaces = config["linux"]["namespaces"]
    assert {ns["type"] for ns in namespaces} >= {"pid", "network", "mount", "ipc", "uts"}
    # A namespace with a "path" joins an existing one (the host's): none does.
    assert all("path" not in ns for ns in namespaces)
    assert "user" not in {ns["type"] for ns in namespaces}  # the worker's uid, as is


def test_the_config_holds_the_mounts_of_the_run(tmp_path: Path) -> None:
    extra = [{"source": str(tmp_path), "destination": "/data"}]
    config = written(tmp_path / "b", extra_mounts=extra)

    assert config["mounts"] == mounts(extra)


# -- mounts ---------------------------------------------------------------------------


def test_proc_is_the_sandboxs_and_tmp_a_private_tmpfs() -> None:
    found = {m["destination"]: m for m in mounts()}

    assert found["/proc"]["type"] == "proc"
    assert found["/tmp"]["type"] == "tmpfs"
    assert found["/tmp"]["source"] == "tmpfs"  # not the host's /tmp
    assert set(found["/tmp"]["options"]) == {"nosuid", "nodev", "mode=1777"}


def test_every_host_directory_is_bound_read_only_at_the_same_place() -> None:
    found = binds(mounts())

    assert found
    for destination, mount in found.items():
        assert mount["source"] == destination
        assert set(mount["options"]) == {"rbind", "ro", "nosuid", "nodev"}


def test_the_system_directories_of_the_host_are_bound_and_its_symlinks_are_not() -> None:
    found = binds(mounts())

    for path in bundle.SYSTEM_PATHS:
        if os.path.isdir(path) and not os.path.islink(path):
            assert path in found
        else:  # missing, or a merged-/usr symlink (re-created in the rootfs)
            assert path not in found
    assert "/usr" in found


def test_nothing_else_of_the_host_is_visible() -> None:
    found = set(binds(mounts()))

    assert found <= {*bundle.SYSTEM_PATHS, *python_paths()}
    for secret in ("/", "/etc", "/root", "/home", "/var", "/run"):
        assert not any(inside(secret, source) for source in found), secret


def test_the_workers_python_and_its_code_are_inside_the_mounts() -> None:
    sources = list(binds(mounts()))
    needed = [sys.executable, os.path.realpath(sys.executable), sys.prefix, sys.base_prefix]
    needed += [p for p in sys.path if p and os.path.isdir(p)]
    for path in needed:
        assert any(inside(path, top) for top in sources), f"{path} not visible in the sandbox"


def test_listed_mounts_come_last_read_only_unless_said_otherwise(tmp_path: Path) -> None:
    data, out = tmp_path / "data", tmp_path / "out"
    extra = [
        {"source": data},
        {"source": str(out), "destination": "/out", "read_only": False},
    ]

    found = mounts(extra)

    first, second = found[-2:]
    assert (first["source"], first["destination"]) == (str(data), str(data))
    assert "ro" in first["options"]
    assert "rw" not in first["options"]
    assert (second["source"], second["destination"]) == (str(out), "/out")
    assert "rw" in second["options"]
    assert "ro" not in second["options"]
    assert {"rbind", "nosuid", "nodev"} <= set(second["options"])
    assert found[:-2] == mounts()  # the defaults are unchanged, under the listed ones


def test_system_paths_are_bound_if_directories_and_left_out_if_symlinks_or_missing(
    fake_host: dict[str, Path],
) -> None:
    found = binds(mounts())

    assert str(fake_host["usr"]) in found
    assert str(fake_host["bin"]) not in found  # re-created in the rootfs instead
    assert str(fake_host["lib32"]) not in found


def test_the_root_of_this_host_holds_only_its_merged_usr_symlinks(tmp_path: Path) -> None:
    written(tmp_path / "b")

    rootfs = tmp_path / "b" / "rootfs"
    links = {"/" + p.name: os.readlink(p) for p in rootfs.iterdir()}
    assert all((rootfs / p.name).is_symlink() for p in rootfs.iterdir())
    expected = {p: os.readlink(p) for p in bundle.SYSTEM_PATHS if os.path.islink(p)}
    assert links == expected


# -- python_paths ----------------------------------------------------------------------


def test_python_paths_keep_the_outermost_existing_directories(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake_host: dict[str, Path]
) -> None:
    code = tmp_path / "code"
    (code / "pkg").mkdir(parents=True)
    (tmp_path / "module.zip").write_bytes(b"")
    linked = tmp_path / "linked"
    linked.symlink_to(tmp_path / "elsewhere")
    (tmp_path / "elsewhere").mkdir()
    entries = [
        str(code / "pkg"),  # inside code: covered by it
        str(code),
        str(tmp_path / "missing"),  # not there
        str(tmp_path / "module.zip"),  # a file, not a directory
        str(fake_host["usr"] / "bin"),  # a system path, bound anyway
        str(linked),  # a symlink: its path and its target
        "",  # the current directory of the worker: not the run's
    ]
    monkeypatch.setattr(sys, "path", [*entries, *sys.path])

    found = python_paths()

    assert str(code) in found
    assert str(code / "pkg") not in found
    assert str(tmp_path / "missing") not in found
    assert str(tmp_path / "module.zip") not in found
    assert not any(inside(path, str(fake_host["usr"])) for path in found)
    assert str(linked) in found
    assert str(tmp_path / "elsewhere") in found
    assert "" not in found
    for path in found:  # none inside another
        assert not any(other != path and inside(path, other) for other in found)


def test_python_paths_hold_the_prefixes_of_the_worker() -> None:
    found = python_paths()

    for prefix in {sys.prefix, sys.base_prefix, sys.exec_prefix}:
        real = os.path.realpath(prefix)
        if not any(inside(real, top) for top in bundle.SYSTEM_PATHS):
            assert any(inside(real, top) for top in found), prefix


# -- cleanup ---------------------------------------------------------------------------


def test_a_bundle_directory_is_never_written_twice(tmp_path: Path) -> None:
    written(tmp_path / "b")

    with pytest.raises(FileExistsError):
        write_bundle(tmp_path / "b", ARGS, {}, hostname="h")


def test_the_executors_cleanup_removes_the_bundle_and_nothing_its_links_point_to(
    tmp_path: Path,
) -> None:
    directory = tmp_path / "bundles" / "b"
    directory.parent.mkdir()
    written(directory)
    linked = [p for p in bundle.SYSTEM_PATHS if os.path.islink(p)]
    before = {p: sorted(os.listdir(p)) for p in linked}
    handle = ExecutionHandle(pid=None, sandbox_id="", workdir=str(directory))
    executor = GvisorExecutor(runsc_root=str(tmp_path / "root"), runsc_path="runsc")

    executor.cleanup(handle)

    assert list(directory.parent.iterdir()) == []
    assert {p: sorted(os.listdir(p)) for p in linked} == before  # the links were not followed
    executor.cleanup(handle)  # already gone: cleanup never raises
