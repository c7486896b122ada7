"""A middleware that writes every request's SQL statements to a file (JSON lines), for the
browser tests to count the queries of a page served by a real server.

The browser tests add it to the example server through ``EXAMPLE_EXTRA_MIDDLEWARE`` (see
:mod:`djprocess_example.settings`), with ``tests/`` on ``PYTHONPATH``; the
``EXAMPLE_SQL_LOG`` environment variable names the file. Each line:
``{"path": "/admin/…?x=1", "queries": [sql, …]}``.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.db import connection
from django.http import HttpRequest, HttpResponse

_lock = threading.Lock()


class SQLLogMiddleware:
    """Record the SQL of each request (on the request thread's default connection)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.path = Path(os.environ["EXAMPLE_SQL_LOG"])

    def __call__(self, request: HttpRequest) -> HttpResponse:
        queries: list[str] = []

        def record(
            execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any
        ) -> Any:
            queries.append(sql)
            return execute(sql, params, many, context)

        with connection.execute_wrapper(record):
            response = self.get_response(request)  # template responses are rendered inside
        line = json.dumps({"path": request.get_full_path(), "queries": queries})
        with _lock, self.path.open("a") as log:
            log.write(line + "\n")
        return response
