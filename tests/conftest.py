"""For every test directory: the processes the tests start can import the test settings.

pytest puts ``tests/`` on ``sys.path`` (``pythonpath`` in ``pyproject.toml``), so the test
process imports ``djprocess_test_settings``; pytest-django exports ``DJANGO_SETTINGS_MODULE``,
so a child interpreter (a ``manage.py`` command, the subprocess backend's runner, a celery
worker, the example server) needs ``tests/`` on its ``PYTHONPATH`` too.
"""

from __future__ import annotations

import os
from pathlib import Path

TESTS = str(Path(__file__).resolve().parent)

if TESTS not in os.environ.get("PYTHONPATH", "").split(os.pathsep):
    os.environ["PYTHONPATH"] = os.pathsep.join(
        path for path in (TESTS, os.environ.get("PYTHONPATH", "")) if path
    )
