"""The example web UI and the admin in a real browser (headless Chromium, Playwright).

The stack is the one a user gets from ``python -m djprocess_example runserver``: SQLite, the
``filesystem://`` broker and its own prefork workers, in a private state folder, started as
a subprocess and stopped with Ctrl-C (SIGINT) at the end, which must leave no process
behind. Data the UI cannot make (a log line with HTML in it, a 100 000-line log) is written
with ``python -m djprocess_example manage shell``. Screenshots go to an artifacts folder
whose path the tests print. Nothing is downloaded: Chromium is Debian's ``chromium``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

pytestmark = [pytest.mark.integration, pytest.mark.celery]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
#: Deadlines (seconds) for what the page waits on.
START_DEADLINE = 90.0
UI_DEADLINE = 30_000  # ms, Playwright's unit
XSS = '<script>window.__xss = 1</script><img src=x onerror="window.__xss = 2">'


@dataclass
class Server:
    url: str
    state: Path
    popen: subprocess.Popen[str]
    log_path: Path

    def manage(self, *args: str, timeout: float = 120) -> str:
        """``python -m djprocess_example manage <args>`` on this server's state; its stdout."""
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "djprocess_example",
                "manage",
                "--state-dir",
                str(self.state),
                *args,
            ],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=_env(self.state),
            check=False,
        )
        assert result.returncode == 0, result.stderr
        return result.stdout

    def queries(self, path: str) -> list[str]:
        """The SQL statements of the last request for ``path`` (the server's SQL log)."""
        found = None
        for line in (self.state / "sql.jsonl").read_text().splitlines():
            entry = json.loads(line)
            if entry["path"] == path:
                found = entry["queries"]
        assert found is not None, f"no request for {path} in the SQL log"
        return list(found)

    def shell(self, code: str) -> str:
        """Run ``code`` in ``manage shell``; returns the last line it printed."""
        lines = self.manage("shell", "--no-imports", "-c", code).strip().splitlines()
        return lines[-1] if lines else ""


def _env(state: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "EXAMPLE_"))}
    env["EXAMPLE_STATE_DIR"] = str(state)
    env["EXAMPLE_SQL_LOG"] = str(state / "sql.jsonl")
    # tests/ is on PYTHONPATH (tests/conftest.py).
    env["EXAMPLE_EXTRA_MIDDLEWARE"] = "djprocess_test_settings.sqllog.SQLLogMiddleware"
    return env


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("artifacts")
    print(f"\nbrowser test artifacts (screenshots, server log): {folder}")
    return folder


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, artifacts: Path) -> Iterator[Server]:
    """``python -m djprocess_example runserver`` on a free port; Ctrl-C at the end."""
    state = tmp_path_factory.mktemp("example-state")
    port = _free_port()
    log_path = artifacts / "runserver.log"
    log = log_path.open("w")
    # Started with SIGINT ignored, as a script's background job starts it (bash's `cmd &`
    # without job control): runserver must stop on Ctrl-C all the same.
    popen = subprocess.Popen(
        ["bash", "-c", "trap '' INT; exec \"$@\"", "runserver",
         sys.executable, "-m", "djprocess_example", "runserver", f"127.0.0.1:{port}",
         "--state-dir", str(state)],
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
        env=_env(state),
        start_new_session=True,  # our SIGINT reaches it alone, as a terminal's Ctrl-C would
    )  # fmt: skip
    instance = Server(f"http://127.0.0.1:{port}", state, popen, log_path)
    deadline = time.monotonic() + START_DEADLINE
    while "djprocess example: http" not in log_path.read_text():
        if popen.poll() is not None or time.monotonic() > deadline:
            popen.kill()
            pytest.fail(f"runserver did not start: {log_path.read_text()[-3000:]}", pytrace=False)
        time.sleep(0.1)
    try:
        yield instance
    finally:
        popen.send_signal(signal.SIGINT)
        try:
            code = popen.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(popen.pid, signal.SIGKILL)
            popen.wait(10)  # reaped: no "still running" warning fails the next test
            pytest.fail("runserver did not stop within 60 s of Ctrl-C", pytrace=False)
        finally:
            log.close()
        output = log_path.read_text()
        assert "stopped; leftover processes: 0" in output, output[-3000:]
        assert code == 0, output[-3000:]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    executable = CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium")
    if executable is None:
        pytest.fail(
            "Chromium is missing: install the Debian package 'chromium' "
            "(apt-get install -y chromium); the browser tests never download one",
            pytrace=False,
        )
    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield instance
        instance.close()


@pytest.fixture
def page(browser: Browser, server: Server) -> Iterator[Page]:
    """A logged-in page (as the demo user)."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    context.set_default_timeout(UI_DEADLINE)
    tab = context.new_page()
    tab.goto(server.url + "/")
    expect(tab).to_have_url(re.compile(r"/login/\?next=/$"))
    tab.fill("#id_username", "demo")
    tab.fill("#id_password", "demo")
    tab.click("button[type=submit]")
    expect(tab.get_by_test_id("process-table")).to_be_visible()
    yield tab
    context.close()


def _progress(tab: Page) -> float:
    return float(tab.evaluate("document.getElementById('progress').value"))


def test_start_watch_the_tail_and_progress_then_cancel(
    page: Page, server: Server, artifacts: Path
) -> None:
    page.screenshot(path=artifacts / "ui-list.png", full_page=True)
    page.select_option("select[name=preset]", "progress")
    page.click("text=New process")
    expect(page.get_by_test_id("status")).to_have_attribute("data-status", "pending")
    page.click("form[data-action=start] button")
    expect(page.get_by_test_id("message")).to_contain_text("started")
    # The tail appends lines while the run writes them, and the bar moves.
    page.wait_for_function("document.querySelectorAll('#log-lines tr').length >= 4")
    expect(page.get_by_test_id("status")).to_have_attribute("data-status", "running")
    expect(page.locator("#started")).to_have_text(re.compile(r"^\d{4}-\d\d-\d\d "))
    page.wait_for_function("document.getElementById('progress').value >= 2")
    first = _progress(page)
    page.wait_for_function(f"document.getElementById('progress').value > {first}")
    lines_before = page.locator("#log-lines tr").count()
    page.wait_for_function(f"document.querySelectorAll('#log-lines tr').length > {lines_before}")
    expect(page.locator("#log-lines")).to_contain_text("working on item")
    page.screenshot(path=artifacts / "ui-running.png", full_page=True)
    page.click("form[data-action=cancel] button")
    expect(page.get_by_test_id("status")).to_have_attribute("data-status", "cancelled")
    expect(page.get_by_test_id("message")).to_contain_text("cancelled")
    expect(page.locator("form[data-action=restart]")).to_be_visible()
    expect(page.locator("form[data-action=cancel]")).to_be_hidden()
    expect(page.get_by_test_id("ended")).to_contain_text("by cancel")
    page.screenshot(path=artifacts / "ui-cancelled.png", full_page=True)
    page.click("text=Processes")
    page.click("a:text('cancelled')")
    expect(page.locator("tbody [data-testid=status]").first).to_have_text("Cancelled")


def test_html_in_a_log_line_is_shown_as_text_in_the_page_and_the_tail(
    page: Page, server: Server, artifacts: Path
) -> None:
    pk = server.shell(
        "from djprocess_example.models import ExampleProcess as P; "
        f"p = P.objects.create(kind='sleep', seconds=60); p.log({XSS!r}); print(p.pk)"
    )
    page.goto(f"{server.url}/processes/{pk}/")
    expect(page.locator("#log-lines")).to_contain_text(XSS)
    assert page.evaluate("window.__xss") is None
    # A line arriving through the live tail (the process is pending: the tail follows it).
    expect(page.locator("#log")).to_have_attribute("data-tail-state", "following")
    server.shell(
        "from djprocess_example.models import ExampleProcess as P; "
        f"P.objects.get(pk={pk}).log('tail: ' + {XSS!r}, level='ERROR')"
    )
    expect(page.locator("#log-lines")).to_contain_text("tail: " + XSS)
    assert page.evaluate("window.__xss") is None
    assert page.locator("#log-lines script").count() == 0
    assert page.locator("#log-lines img").count() == 0
    page.screenshot(path=artifacts / "ui-escaped.png", full_page=True)
    # Ended elsewhere (a shell): the open page sees it, updates itself and stops polling.
    server.shell(
        f"from djprocess_example.models import ExampleProcess as P; P.objects.get(pk={pk}).cancel()"
    )
    expect(page.locator("#log")).to_have_attribute("data-tail-state", "ended")
    expect(page.get_by_test_id("status")).to_have_attribute("data-status", "cancelled")
    expect(page.locator("#log-lines")).to_contain_text("cancelled before it ran")
    expect(page.locator("form[data-action=restart]")).to_be_visible()
    expect(page.locator("form[data-action=cancel]")).to_be_hidden()
    expect(page.get_by_test_id("tail-note")).to_contain_text("The run has ended (Cancelled)")
    assert page.evaluate("window.__xss") is None


def test_admin_change_page_of_a_100000_line_process(
    page: Page, server: Server, artifacts: Path
) -> None:
    pk, count = server.shell(
        "from djprocess.logs import LogEntry; "
        "from djprocess_example.models import ExampleProcess as P; "
        "p = P.objects.create(kind='fail'); "
        "p.log_many([LogEntry(message=f'line {n}') for n in range(1, 100001)]); "
        f"p.log({XSS!r}, level='WARNING'); p.execute(); print(p.pk, p.log_count())"
    ).split()
    pages = (int(count) + 99) // 100
    assert int(count) > 100_000
    page.goto(f"{server.url}/admin/djprocess_example/exampleprocess/")
    expect(page.locator("#result_list")).to_be_visible()
    expect(page.locator("#result_list .djprocess-badge").first).to_be_visible()
    page.screenshot(path=artifacts / "admin-changelist.png", full_page=True)
    small = server.shell(
        "from djprocess_example.models import ExampleProcess as P; "
        "p = P.objects.create(kind='fail'); [p.log(f'small {n}') for n in range(10)]; "
        "p.execute(); print(p.pk)"
    )
    small_path = f"/admin/djprocess_example/exampleprocess/{small}/change/"
    page.goto(server.url + small_path)
    expect(page.locator("#djprocess-log h2")).to_contain_text("Log: 13 lines")
    big_path = f"/admin/djprocess_example/exampleprocess/{pk}/change/"
    page.goto(server.url + big_path)
    log = page.locator("#djprocess-log")
    expect(log.locator("h2")).to_contain_text(f"Log: {count} lines, page {pages} of {pages}")
    # As many queries for 100,000 lines as for 10 (once per-process caches such as the
    # content types are warm: the small page is loaded again), none counting or skipping rows.
    big_queries = server.queries(big_path)
    page.goto(server.url + small_path)
    expect(page.locator("#djprocess-log h2")).to_contain_text("Log: 13 lines")
    page.goto(server.url + big_path)
    assert len(big_queries) == len(server.queries(small_path)) <= 12, big_queries
    assert not [sql for sql in big_queries if re.search(r"COUNT\(|OFFSET", sql, re.IGNORECASE)]
    expect(log).to_contain_text(XSS)
    expect(page.locator(".djprocess-traceback")).to_contain_text("RuntimeError: example failure")
    assert page.evaluate("window.__xss") is None
    page.screenshot(path=artifacts / "admin-change.png", full_page=True)
    page.click("#djprocess-log >> text=first")
    expect(log.locator("h2")).to_contain_text(f"page 1 of {pages}")
    expect(log.locator("tbody tr").first).to_contain_text("line 1")
    # Re-run from the change page's button (POST, CSRF token of the page).
    page.click("form.djprocess-operate button:text('Re-run')")
    expect(page.locator(".messagelist")).to_contain_text("Re-run: 1 re-run.")
