"""Turning whatever ``log()`` receives into a line every database can store.

``log()`` must never lose a line nor crash the run because of its input, so each
part of a line is cleaned, not validated:

* **message**: a non-string is converted with ``str()`` (``repr()`` if that fails;
  ``bytes`` are decoded as UTF-8 with ``\\xNN`` escapes); NUL characters, which
  PostgreSQL refuses in text, are stored as the four characters ``\\x00``; lone
  surrogates, which no database can encode, as ``\\udXXX``; a message longer than
  ``DJPROCESS_LOG_MAX_MESSAGE_LENGTH`` characters keeps its start and ends with
  :data:`TRUNCATION_MARKER` saying how much was cut.
* **level**: a level name or number (``"info"``, ``"WARN"``, ``25``, a name added
  with :func:`logging.addLevelName`) becomes the standard name at or below it; any
  other value is stored as ``"INFO"`` and kept, as text, in ``extra["invalid_level"]``.
* **extra**: made JSON-safe recursively: non-string keys become strings, values that
  JSON cannot hold (objects, ``NaN``, sets, too deep nesting) become their ``repr()``;
  strings are cleaned like messages. A non-mapping ``extra`` is stored as
  ``{"value": ...}``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, cast

from djprocess._levels import LEVELS, clean_level
from djprocess.conf import settings

__all__ = [
    "INVALID_LEVEL_KEY",
    "LEVELS",
    "MAX_EXTRA_DEPTH",
    "TRUNCATION_MARKER",
    "clean_entry",
    "clean_extra",
    "clean_level",
    "clean_message",
    "escape_text",
]

#: Appended to a cut message; ``{kept}``, ``{total}`` are character counts.
TRUNCATION_MARKER = (
    "\n[djprocess: message truncated, {kept} of {total} characters kept "
    "(DJPROCESS_LOG_MAX_MESSAGE_LENGTH)]"
)

#: Nesting deeper than this in ``extra`` is stored as ``repr()`` text.
MAX_EXTRA_DEPTH = 20

#: ``extra`` key recording a level that was not understood.
INVALID_LEVEL_KEY = "invalid_level"


def _text(value: object) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("utf-8", "backslashreplace")
    for convert in (str, repr):
        try:
            text = convert(value)
        except Exception:  # noqa: BLE001 - a broken __str__ must not lose the line
            continue
        if isinstance(text, str):
            return text
    return f"<unprintable {type(value).__name__} object>"


def escape_text(text: str) -> str:
    """``text`` with NUL stored as ``\\x00`` and lone surrogates as ``\\udXXX``."""
    if "\x00" in text:
        text = text.replace("\x00", "\\x00")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


def clean_message(value: object, max_length: int | None = None) -> str:
    """The storable form of a log message (see the module docstring).

    ``max_length`` defaults to ``DJPROCESS_LOG_MAX_MESSAGE_LENGTH``; the result is at
    most that many characters plus the truncation marker. Never raises.
    """
    limit = settings.LOG_MAX_MESSAGE_LENGTH if max_length is None else max_length
    text = escape_text(_text(value))
    if len(text) <= limit:
        return text
    return text[:limit] + TRUNCATION_MARKER.format(kept=limit, total=len(text))


def _clean_value(value: Any, depth: int) -> Any:
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if isinstance(value, str):
        return clean_message(value)
    if depth < MAX_EXTRA_DEPTH:
        if isinstance(value, Mapping):
            return {
                clean_message(_text(key), 1000): _clean_value(item, depth + 1)
                for key, item in value.items()
            }
        if isinstance(value, list | tuple):
            return [_clean_value(item, depth + 1) for item in value]
    return clean_message(_repr(value))


def _repr(value: object) -> str:
    try:
        return repr(value)
    except Exception:  # noqa: BLE001 - a broken __repr__ must not lose the line
        return f"<unrepresentable {type(value).__name__} object>"


def clean_extra(extra: object) -> dict[str, Any]:
    """A JSON-safe ``dict`` for ``extra`` (see the module docstring). Never raises."""
    if extra is None:
        return {}
    if isinstance(extra, Mapping):
        # At depth 0 (below MAX_EXTRA_DEPTH) a mapping is always cleaned into a dict.
        return cast(dict[str, Any], _clean_value(extra, 0))
    return {"value": _clean_value(extra, 1)}


def clean_entry(message: object, level: object, extra: object) -> tuple[str, str, dict[str, Any]]:
    """``(message, level_name, extra)`` ready to store; an unknown ``level`` is stored as
    ``"INFO"`` with its text in ``extra["invalid_level"]``. Never raises."""
    data = clean_extra(extra)
    name = clean_level(level)
    if name is None:
        name = "INFO"
        data[INVALID_LEVEL_KEY] = clean_message(_repr(level), 200)
    return clean_message(message), name, data
