"""Write 0.0.1-shaped rows (the schema of ``exports`` migration 0001) from JSON on stdin.

``{"processes": [{"id": ..., fields of 0.0.1 ..., "lines": [[sequence, level, message,
created], ...]}]}``; datetimes as ISO strings, ``timeout`` in seconds. Uses the historical
models of migration 0001, as 0.0.1's own code would have left the rows.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime, timedelta

import django

django.setup()

from django.db import connection  # noqa: E402
from django.db.migrations.loader import MigrationLoader  # noqa: E402

apps = MigrationLoader(connection).project_state(("exports", "0001_initial")).apps
Process = apps.get_model("exports", "ExportProcess")
Log = apps.get_model("exports", "ExportProcessLog")

WHEN = ("created", "modified", "started", "finished")

for spec in json.load(sys.stdin)["processes"]:
    fields = {k: v for k, v in spec.items() if k != "lines"}
    for name in WHEN:
        if fields.get(name):
            fields[name] = datetime.fromisoformat(fields[name])
    fields["timeout"] = timedelta(seconds=fields["timeout"])
    process = Process(**fields)
    process.save()
    # auto_now/auto_now_add overrode the given times: write them as 0.0.1 had them.
    Process.objects.filter(pk=process.pk).update(**{k: fields.get(k) for k in WHEN})
    Log.objects.bulk_create(
        Log(
            process=process,
            sequence=sequence,
            level=level,
            message=message,
            created=datetime.fromisoformat(created),
        )
        for sequence, level, message, created in spec["lines"]
    )
print(Process.objects.count(), Log.objects.count())
