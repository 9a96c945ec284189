"""Browser fixtures: headless Debian Chromium driven by Playwright against pytest-django's live server.

Playwright's sync API runs an asyncio event loop in the test thread, and Django refuses ORM calls
made from a thread with a running loop ("SynchronousOnlyOperation"). The tests below only drive
the browser and read the database between steps, never concurrently with the server's own
requests, so the guard is lifted for this directory.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = {"width": 1366, "height": 768}


def chromium_path() -> str:
    return os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    path = chromium_path()
    if not Path(path).is_file():
        # A failure, not a skip: a green run must mean the pages were tested in a browser.
        pytest.fail(
            f"Chromium is missing at {path}: `make chromium` installs Debian's chromium "
            "(or set CHROMIUM_PATH to a Chromium/Chrome binary)."
        )
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=path, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def _new_page(browser, viewport):
    context = browser.new_context(viewport=viewport)
    context.set_default_timeout(20_000)
    page = context.new_page()
    # Script errors on the page surface in the test's failure message.
    page.js_errors = []
    page.on("pageerror", lambda exc: page.js_errors.append(str(exc)))
    page.console_log = []
    page.on("console", lambda msg: page.console_log.append(f"{msg.type}: {msg.text}"))
    return context, page


@pytest.fixture
def page(browser):
    context, page = _new_page(browser, VIEWPORT)
    yield page
    context.close()


@pytest.fixture
def phone_page(browser):
    context, page = _new_page(browser, {"width": 390, "height": 844})
    yield page
    context.close()


def login(page, live_server, username: str, password: str | None = None) -> None:
    """Log in through the real login form; root-conftest users have the password "pw-<name>"."""
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password if password is not None else "pw-" + username)
    with page.expect_navigation():
        page.click("button[type=submit]")
    assert "/accounts/login/" not in page.url, f"login as {username} failed: {page.inner_text('main')}"


def chart_in(page, selector: str, timeout: float = 10_000) -> dict:
    """What the Chart.js chart drawn in `selector` shows (static/js/charts.js `Charts.describe`):
    {type, scales: {id: title}, labels, rows (matrices), datasets: [{label, data}]}. Waits for it."""
    page.wait_for_function(
        "sel => window.Charts && Charts.describe(document.querySelector(sel))", arg=selector, timeout=timeout
    )
    return page.evaluate("sel => Charts.describe(document.querySelector(sel))", selector)
