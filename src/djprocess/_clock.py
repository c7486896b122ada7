"""Absolute time for deadlines, whatever ``USE_TZ`` and ``TIME_ZONE`` say.

Deadlines (``deadline_at``) and supervision times (``next_check_at``,
``heartbeat_at``) are stored in UTC: an aware datetime with ``USE_TZ = True``, a
naive one holding UTC with ``USE_TZ = False``. Local wall-clock time jumps at a
daylight-saving change (a 20-minute timeout must not become 80 minutes), UTC
does not. Elapsed time inside one process is measured with :func:`monotonic`.

Tests fake the clock by patching :func:`utc_now` and :func:`monotonic` here
(everything in djprocess reads time through them).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

from django.conf import settings


def utc_now() -> datetime:
    """Now in UTC: aware with ``USE_TZ = True``, naive (holding UTC) otherwise."""
    now = datetime.now(UTC)
    return now if settings.USE_TZ else now.replace(tzinfo=None)


def monotonic() -> float:
    """Seconds from an arbitrary start, never going backwards (:func:`time.monotonic`)."""
    return time.monotonic()
