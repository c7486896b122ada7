"""E-mail the site's admins when an example process fails: a ``process_finished`` receiver.

Connected in :meth:`djprocess_example.apps.DjprocessExampleConfig.ready`. ``mail_admins``
sends to ``settings.ADMINS`` and does nothing while that list is empty (as in the demo).
"""

from __future__ import annotations

from typing import Any

from django.core.mail import mail_admins
from django.dispatch import receiver

from djprocess.signals import process_finished
from djprocess_example.models import ExampleProcess

__all__ = ["mail_admins_on_failure"]


@receiver(process_finished, sender=ExampleProcess, dispatch_uid="example-mail-on-failure")
def mail_admins_on_failure(
    sender: type[ExampleProcess], process: ExampleProcess, status: str, **kwargs: Any
) -> None:
    """Send one e-mail per failed run: the process, its exception and traceback."""
    if status != "failed":
        return
    mail_admins(
        subject=f"{process} failed",
        message=f"{process.exception}\n\n{process.traceback}".strip(),
    )
