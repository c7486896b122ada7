"""The log levels a line can have: the one list of names and the one normaliser.

Read by :mod:`djprocess.logs.sanitize` (every line's level), :mod:`djprocess.logs.capture`
(the numeric level of ``DJPROCESS_LOG_CAPTURE_LEVEL``) and :mod:`djprocess.conf`, whose check
``djprocess.E011`` accepts exactly the names in :data:`LEVELS` for that setting (upper case,
as Django's ``LOGGING`` writes them); a leaf module, so the settings can use it without
importing the log.
"""

from __future__ import annotations

import logging

from djprocess.validators import is_integer

__all__ = ["LEVELS", "clean_level"]

#: Standard level names, lowest first.
LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def clean_level(level: object) -> str | None:
    """The standard level name for ``level``, or None if it is not a level.

    Numbers map to the highest standard level at or below them (``25`` → ``"INFO"``,
    below ``DEBUG`` → ``"DEBUG"``); names are case-insensitive, ``"WARN"`` and levels
    registered with :func:`logging.addLevelName` are understood.
    """
    if isinstance(level, str):
        upper = level.strip().upper()
        if upper in LEVELS:
            return upper
        number = logging.getLevelNamesMapping().get(upper)
        if number is None:
            return None
        level = number
    if is_integer(level):
        mapping = logging.getLevelNamesMapping()
        for name in reversed(LEVELS):
            if level >= mapping[name]:
                return name
        return "DEBUG"
    return None
