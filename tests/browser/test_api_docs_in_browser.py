"""The API's documentation page: reached from /account/tokens, it shows the
operations of /api/v1 from the app's own OpenAPI document, with vendored
files only and no CSP violation (`page` fails on any), on a desktop and a phone."""
import pytest
from playwright.sync_api import expect

from .test_edit_conflict_in_browser import log_in

pytestmark = pytest.mark.browser


def test_the_documentation_page_shows_the_apis_operations(page, make_user, live_server):
    make_user("tomas", "hr")
    log_in(page, "tomas", "/account/tokens")
    outside = []  # every request the page makes: none may leave this server
    page.on("request", lambda request: request.url.startswith(live_server) or outside.append(request.url))
    page.get_by_role("link", name="API documentation").click()
    expect(page).to_have_url(f"{live_server}/api/v1/docs")
    operations = page.locator(".opblock-summary-path")
    expect(operations.filter(has_text="/api/v1/employees").first).to_be_visible()
    paths = set(operations.all_inner_texts())
    assert {"/api/v1/employees", "/api/v1/employees/{employee_id}"} <= {p.replace("\u200b", "") for p in paths}
    expect(page.locator(".opblock-post").first).to_be_visible()  # adding a record is there too
    assert outside == []

    # An operation opens to its parameters (the list's limit, with its range).
    page.locator(".opblock-get .opblock-summary-path", has_text="/api/v1/employees").first.click()
    expect(page.locator(".parameters").get_by_text("limit", exact=True).first).to_be_visible()

    page.set_viewport_size({"width": 390, "height": 844})
    page.reload()
    expect(page.locator(".opblock-summary-path").first).to_be_visible()
    scroll, width = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert scroll <= width, f"the page scrolls sideways at 390 px: {scroll} > {width}"


def test_the_documentation_page_needs_no_login_and_keeps_the_strict_csp(live_server):
    import requests

    answer = requests.get(f"{live_server}/api/v1/docs", timeout=10)
    assert answer.status_code == 200 and answer.headers["Content-Type"].startswith("text/html")
    policy = answer.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "unsafe" not in policy
    assert "<script>" not in answer.text  # its script is a file
