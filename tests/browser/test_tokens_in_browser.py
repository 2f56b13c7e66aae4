"""A person makes an API token in the browser, copies it from the page (it is
shown once), a program uses it, and the person revokes it."""
import pytest
import requests
from playwright.sync_api import expect

from .test_edit_conflict_in_browser import log_in
from .test_menu_in_browser import account_menu

pytestmark = pytest.mark.browser


def test_create_use_and_revoke_a_token_in_the_browser(page, make_user, live_server):
    make_user("tomas", "hr")
    log_in(page, "tomas", "/")
    account_menu(page).click()
    page.get_by_role("link", name="API tokens").click()
    page.get_by_label("Token name").fill("payroll <sync>")
    page.get_by_role("button", name="Create token").click()
    token = page.locator("#new-token").inner_text()
    assert token.startswith("emp_")
    expect(page.get_by_role("cell", name="payroll <sync>")).to_be_visible()  # escaped, shown as typed
    # On a phone the token wraps inside the page: copied whole, no sideways scroll.
    page.set_viewport_size({"width": 390, "height": 844})
    assert page.locator("#new-token").inner_text() == token
    scroll, width = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    right = page.locator("#new-token").evaluate("e => e.getBoundingClientRect().right")
    assert scroll <= width and right <= width, f"the page scrolls sideways at 390 px: {scroll}, {right} > {width}"

    def api_status() -> int:
        return requests.get(f"{live_server}/api/v1/employees", headers={"Authorization": f"Bearer {token}"},
                            timeout=10).status_code

    assert api_status() == 200
    page.goto("/account/tokens")  # shown once: opened again, only its first characters are left
    expect(page.locator("#new-token")).to_have_count(0)
    expect(page.get_by_text(token)).to_have_count(0)
    page.get_by_role("button", name="Revoke").click()
    expect(page.get_by_text("is revoked")).to_be_visible()
    assert api_status() == 401
