"""Read everything back through the 0.1.0 models, then use them: print one JSON document.

``rows``: every process with every field; ``lines``: per process, its log lines
``[sequence, level, message, created]`` in order; ``counts``: ``log_count()``;
``next_sequence``: what ``log("after upgrade")`` returned; ``restart``: the rerun of process
``RESTART_PK`` (status, attempts, its last lines).
"""

from __future__ import annotations

import json
import os
from typing import Any

import django

django.setup()

from django.forms.models import model_to_dict  # noqa: E402
from exports.models import ExportProcess  # noqa: E402


def plain(value: Any) -> Any:
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if hasattr(value, "total_seconds"):
        return value.total_seconds()
    return value


result: dict[str, Any] = {"rows": {}, "lines": {}, "counts": {}, "next_sequence": {}}
fields = [f.name for f in ExportProcess._meta.concrete_fields]
for process in ExportProcess.objects.order_by("pk"):
    key = str(process.pk)
    result["rows"][key] = {
        name: plain(value) for name, value in model_to_dict(process, fields=fields).items()
    } | {name: plain(getattr(process, name)) for name in fields}
    result["lines"][key] = [
        [line.sequence, line.level, line.message, line.created.isoformat()]
        for line in process.logs.order_by("sequence")
    ]
    result["counts"][key] = process.log_count()
for process in ExportProcess.objects.order_by("pk"):
    result["next_sequence"][str(process.pk)] = process.log("after upgrade")

again = ExportProcess.objects.get(pk=int(os.environ["RESTART_PK"]))
again.restart()
again.refresh_from_db()
result["restart"] = {
    "status": again.status,
    "attempts": again.attempts,
    "tail": [[x.sequence, x.message] for x in again.logs.order_by("-sequence")[:6]][::-1],
}
print(json.dumps(result))
