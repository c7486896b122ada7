"""The user's models, unchanged from 0.0.1's README Quick start (now on djprocess 0.1.0),
plus ``sandbox_id``, kept as the upgrade notes describe."""

from __future__ import annotations

from django.db import models

from djprocess.models import BaseProcess, BaseProcessLog


class ExportProcess(BaseProcess):
    path = models.CharField(max_length=255)
    # djprocess 0.1.0 has no sandbox_id: kept here so its 0.0.1 values stay.
    sandbox_id = models.CharField(max_length=255, blank=True, default="")

    def run(self) -> None:
        self.log(f"Exporting {self.path}")
        # ... do work ...
        self.log("Export complete")


class ExportProcessLog(BaseProcessLog):
    process = models.ForeignKey(
        ExportProcess,
        on_delete=models.CASCADE,
        related_name="logs",
    )
