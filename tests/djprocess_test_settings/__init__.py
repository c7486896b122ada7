"""Django settings for the test suite, and what only tests use (kept out of the wheel).

Importable because ``tests/`` is on the path: pytest's ``pythonpath`` (``pyproject.toml``)
for the test process, ``PYTHONPATH`` (``tests/conftest.py``) for the processes it starts.

* :mod:`djprocess_test_settings.sqlite`: the default (``DJANGO_SETTINGS_MODULE`` in
  ``pyproject.toml``): SQLite in memory, Celery in eager mode;
* :mod:`djprocess_test_settings.postgres`: the same on PostgreSQL (``nox`` runs the property
  and log tests on it);
* :mod:`djprocess_test_settings.nocelery`: without Celery installed (``nox -s nocelery``);
* :mod:`djprocess_test_settings.sqllog`: a middleware logging each request's SQL, added to the
  example server by the browser tests.
"""
