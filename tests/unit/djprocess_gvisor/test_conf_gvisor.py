"""``djprocess_gvisor.conf``: the ``DJPROCESS_GVISOR_*`` settings, declared as needing a
sandboxing backend, read at access time by 0.0.1's functions and the new ones."""

from __future__ import annotations

from django.test import override_settings

from djprocess.conf import declared
from djprocess_gvisor import conf
from djprocess_subprocess.conf import NEEDS_EXECUTOR


def test_every_gvisor_setting_needs_an_executor_and_a_sandbox() -> None:
    gvisor = [found for found in declared() if found.name.startswith("DJPROCESS_GVISOR_")]
    assert len(gvisor) == 5
    assert {found.requires for found in gvisor} == {(NEEDS_EXECUTOR, conf.NEEDS_SANDBOX)}


def test_the_functions_read_the_settings() -> None:
    assert conf.network_mode() == "none"
    with override_settings(
        DJPROCESS_GVISOR_RUNSC_PATH="/opt/runsc",
        DJPROCESS_GVISOR_RUNSC_ROOT="/tmp/root",
        DJPROCESS_GVISOR_NETWORK="host",
        DJPROCESS_GVISOR_RUNSC_FLAGS=("--rootless",),
        DJPROCESS_GVISOR_MOUNTS=[{"source": "/data", "destination": "/data"}],
    ):
        assert conf.runsc_path() == "/opt/runsc"
        assert conf.runsc_root() == "/tmp/root"
        assert conf.network_mode() == "host"
        assert conf.runsc_flags() == ["--rootless"]
        assert conf.mounts() == [{"source": "/data", "destination": "/data"}]
