"""What a worker answers to djprocess's remote-control commands, typed.

:mod:`djprocess_celery.control` builds a :class:`TaskReply` in the worker and sends
:meth:`TaskReply.to_reply` (a JSON object with only the keys that differ from the defaults:
the wire format of 0.1.0's first workers, so old and new workers understand each other);
:mod:`djprocess_celery.backend` reads each reply back with :meth:`TaskReply.from_reply`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from djprocess.validators import is_integer

__all__ = ["MalformedReply", "TaskReply"]


class MalformedReply(ValueError):
    """A reply that is not a JSON object of the known keys with the right types."""


@dataclass(frozen=True, kw_only=True)
class TaskReply:
    """One worker's answer about one task (``djprocess_status``, ``djprocess_signal``)."""

    #: The worker runs the task (or has it reserved, see ``starting``) now.
    found: bool = False
    #: The worker received the task at some point: it is the one to believe.
    known: bool = False
    #: The pool child running the task (None while it is still ``starting``).
    pid: int | None = None
    #: Whether that pool child is alive (not a zombie); None when not looked at.
    alive: bool | None = None
    #: Received, not yet acknowledged by a pool child: ask again.
    starting: bool = False
    #: The pool child no longer supervises a run: it only records how the run ended.
    ended: bool = False
    #: The task runs in this other pid, not the one asked about.
    mismatch: int | None = None
    #: The command arrived after its deadline (a replayed broadcast) and was ignored.
    stale: bool = False
    #: The signal sent (``djprocess_signal``), ``""`` if none.
    signalled: str = ""
    #: How many processes below the pool child were signalled too.
    tree: int = 0
    #: The pool (module) that cannot signal a task: threads/solo pools.
    unsupported: str = ""
    #: The command failed in the worker (Celery's own ``{"error": ...}`` reply).
    error: str = ""

    @classmethod
    def from_reply(cls, data: object) -> TaskReply:
        """Parse one worker's reply. Unknown keys are ignored (a newer worker may say more).

        Raises :class:`MalformedReply` naming the reply if it is not a mapping or a known
        key has a value of the wrong type.
        """
        if not isinstance(data, Mapping):
            raise MalformedReply(f"a reply must be a JSON object, got {data!r}")
        values: dict[str, Any] = {}
        for field in fields(cls):
            if field.name not in data:
                continue
            value = data[field.name]
            if not _has_type(field.name, value, field.default):
                raise MalformedReply(
                    f"reply key {field.name!r} has a bad value {value!r}: {data!r}"
                )
            values[field.name] = value
        return cls(**values)

    def to_reply(self) -> dict[str, Any]:
        """The JSON object sent on the wire: the keys whose value is not the default."""
        return {
            field.name: getattr(self, field.name)
            for field in fields(self)
            if getattr(self, field.name) != field.default
        }

    def replace(self, **changes: Any) -> TaskReply:
        """A copy with ``changes``."""
        return dataclasses.replace(self, **changes)


#: The fields that may be None, and what they are otherwise.
_OPTIONAL = {"pid": int, "mismatch": int, "alive": bool}


def _has_type(name: str, value: object, default: object) -> bool:
    """True if ``value`` fits field ``name`` (whose default is ``default``)."""
    kind = _OPTIONAL.get(name, type(default))
    if value is None:
        return name in _OPTIONAL
    if kind is int:
        return is_integer(value)
    return isinstance(value, kind)
