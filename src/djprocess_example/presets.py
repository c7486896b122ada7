"""The example processes the web UI offers to create: one per way a run can end."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from djprocess_example.models import ExampleProcess

__all__ = ["PRESETS", "Preset"]


@dataclass(frozen=True, kw_only=True)
class Preset:
    """An example process: its title and the fields it is created with."""

    title: str
    fields: dict[str, Any] = field(default_factory=dict)
    timeout: timedelta = timedelta(minutes=1)

    def create(self) -> ExampleProcess:
        """A new pending ``ExampleProcess`` with these fields."""
        return ExampleProcess.objects.create(timeout=self.timeout, **self.fields)


#: By name, in the order the UI lists them.
PRESETS: dict[str, Preset] = {
    "progress": Preset(
        title="Succeeds, with progress (30 items in 30 s)",
        fields={"kind": "succeed", "lines": 30, "seconds": 30.0},
    ),
    "fail": Preset(title="Fails (raises RuntimeError)", fields={"kind": "fail"}),
    "overrun": Preset(
        title="Overruns its 3 s timeout (sleeps 60 s)",
        fields={"kind": "sleep", "seconds": 60.0},
        timeout=timedelta(seconds=3),
    ),
}
