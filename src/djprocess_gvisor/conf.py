"""The gVisor settings, read at access time (names as in djprocess 0.0.1).

They live in :mod:`djprocess.conf` with every other ``DJPROCESS_*`` setting; these
functions are kept for code that imported them from 0.0.1.
"""

from __future__ import annotations

from djprocess.conf import settings

__all__ = ["network_mode", "runsc_path", "runsc_root"]


def runsc_path() -> str:
    """``DJPROCESS_GVISOR_RUNSC_PATH`` (default ``"runsc"``, looked up on ``PATH``)."""
    return settings.GVISOR_RUNSC_PATH


def runsc_root() -> str:
    """``DJPROCESS_GVISOR_RUNSC_ROOT``: the state directory of runsc."""
    return settings.GVISOR_RUNSC_ROOT


def network_mode() -> str:
    """``DJPROCESS_GVISOR_NETWORK``: ``"none"`` (default) or ``"host"``."""
    return settings.GVISOR_NETWORK
