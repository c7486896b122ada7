import time

from django.db import models

from djprocess.models import BaseProcess, BaseProcessLog


class ExportProcess(BaseProcess):
    path = models.CharField(max_length=255)
    seconds = models.PositiveIntegerField(default=1)

    def run(self):
        self.log(f"Exporting {self.path}")
        for i in range(self.seconds):
            time.sleep(1)
            self.log(f"{i + 1} s done")
        self.log("Export complete")


class ExportProcessLog(BaseProcessLog):
    process = models.ForeignKey(
        ExportProcess,
        on_delete=models.CASCADE,
        related_name="logs",
    )
