"""Headless Chromium for the browser tests: Debian's /usr/bin/chromium driven
by Playwright (Playwright's own browser download is not available here).

Without Chromium the tests skip with the reason shown, except when
REQUIRE_BROWSER=1 (set by .ci/run): then a missing browser is a failure."""
import os
import shutil
from contextlib import contextmanager

import pytest

CHROMIUM = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]


@pytest.fixture(scope="session")
def browser():
    if not os.path.exists(CHROMIUM):
        message = f"Chromium not found at {CHROMIUM} (apt-get install chromium)"
        if os.environ.get("REQUIRE_BROWSER") == "1":
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@contextmanager
def watched_page(browser, base_url: str, **context_options):
    """A page in a browser context of its own (its own cookies, as one person
    has); any script error or CSP violation on it fails the test.
    context_options go to new_context (java_script_enabled=False ...)."""
    context = browser.new_context(base_url=base_url, **context_options)
    page = context.new_page()
    page.set_default_timeout(10_000)
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda message: "Content Security Policy" in message.text and errors.append(message.text))
    yield page
    context.close()
    assert errors == [], f"script errors or CSP violations in the browser: {errors}"


@pytest.fixture
def page(browser, live_server):
    with watched_page(browser, live_server) as opened:
        yield opened
