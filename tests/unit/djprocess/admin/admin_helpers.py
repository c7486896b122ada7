"""Helpers shared by the ``djprocess.admin`` tests: the example admin's URLs, a staff client."""

from __future__ import annotations

from django.contrib.auth.models import Permission, User
from django.test import Client
from django.urls import reverse

from djprocess_example.models import ExampleProcess

CHANGELIST = "admin:djprocess_example_exampleprocess_changelist"


def change_url(process: ExampleProcess) -> str:
    return reverse("admin:djprocess_example_exampleprocess_change", args=[process.pk])


def operate_url(process: ExampleProcess, action: str) -> str:
    return reverse("admin:djprocess_example_exampleprocess_operate", args=[process.pk, action])


def staff(*codenames: str) -> Client:
    """A client logged in as a staff user with only these exampleprocess permissions."""
    user = User.objects.create_user("operator", password="pw", is_staff=True)
    for codename in codenames:
        user.user_permissions.add(Permission.objects.get(codename=codename))
    client = Client()
    client.force_login(user)
    return client
