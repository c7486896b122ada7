"""The benchmark figures' registry and value types (see ``run.py``)."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, kw_only=True)
class Size:
    """How big a run is: ``log_lines`` (a list: one pagination figure per size), the lines
    written per round by the write figures, and the rounds per figure."""

    name: str
    log_lines: tuple[int, ...]
    writes: int
    rounds: int


SIZES = {
    "smoke": Size(name="smoke", log_lines=(20_000,), writes=200, rounds=5),
    "full": Size(name="full", log_lines=(1_000_000, 5_000_000), writes=2_000, rounds=7),
}


@dataclass(frozen=True, kw_only=True)
class Result:
    """One figure at one size: ``ratios`` per round (ours/anchor, or anchor/ours, as
    ``meaning`` says), and the target it should meet."""

    figure: str
    case: str
    meaning: str
    ratios: list[float]
    target: str
    ours_seconds: float
    anchor_seconds: float
    extra: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, float]:
        return {
            "median": statistics.median(self.ratios),
            "min": min(self.ratios),
            "max": max(self.ratios),
        }


@dataclass
class Context:
    """What a figure gets: the size, and helpers that know the database."""

    size: Size
    vendor: str

    def vacuum_analyze(self, *tables: str) -> None:
        from django.db import connection

        with connection.cursor() as cursor:
            if self.vendor == "postgresql":
                for table in tables:
                    cursor.execute(f"VACUUM ANALYZE {connection.ops.quote_name(table)}")
            else:
                cursor.execute("ANALYZE")

    @staticmethod
    def timed(fn: Callable[[], object]) -> float:
        """Wall time of one call of ``fn`` in seconds."""
        start = time.perf_counter()
        fn()
        return time.perf_counter() - start


Figure = Callable[[Context], list[Result]]
FIGURES: dict[str, tuple[str, Figure]] = {}


def figure(name: str, description: str) -> Callable[[Figure], Figure]:
    """Register a figure function under ``name``."""

    def register(fn: Figure) -> Figure:
        if name in FIGURES:
            raise ValueError(f"figure {name!r} is registered twice")
        FIGURES[name] = (description, fn)
        return fn

    return register
