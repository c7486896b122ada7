"""The example's runserver: its seed data and its argument errors (the server itself runs in
tests/integration/test_operators_browser.py)."""

from __future__ import annotations

import pytest
from django.contrib.auth import authenticate

from djprocess_example.models import ExampleProcess
from djprocess_example.presets import PRESETS
from djprocess_example.server import run_server, seed


@pytest.mark.django_db
def test_seed_makes_the_demo_user_and_one_process_per_preset_once() -> None:
    seed()
    seed()
    user = authenticate(username="demo", password="demo")
    assert user is not None
    assert user.is_superuser
    processes = list(ExampleProcess.objects.order_by("pk"))
    assert [(p.kind, p.status) for p in processes] == [
        (preset.fields["kind"], "pending") for preset in PRESETS.values()
    ]
    assert processes[2].timeout.total_seconds() == 3


def test_a_bad_address_is_refused_before_anything_starts(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert run_server("127.0.0.1:http") == 2
    assert "'127.0.0.1:http' is not HOST:PORT or PORT" in capsys.readouterr().err
