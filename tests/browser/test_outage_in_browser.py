"""A person at the app while PostgreSQL is stopped: the page says the
database is unavailable, styled as the app (its static files need no
database), without the menu; a reload once it is back shows the list."""
import pytest
from playwright.sync_api import expect

from .test_edit_conflict_in_browser import log_in
from .test_menu_in_browser import account_menu

pytestmark = pytest.mark.browser


def test_the_unavailable_page_in_a_browser_and_the_way_back(page, make_user, postgres_outage):
    make_user("olga", "hr")
    log_in(page, "olga", "/employees")
    expect(page.get_by_role("heading", name="Employees")).to_be_visible()

    with postgres_outage():
        response = page.goto("/employees")
        assert response.status == 503
        expect(page.get_by_role("heading", name="The database is unavailable")).to_be_visible()
        expect(page.get_by_text("Please try again in a few moments.")).to_be_visible()
        expect(page.get_by_role("button", name="Log out")).to_have_count(0)
        # The app's stylesheet applied: the message sits in the narrow column.
        width = page.locator("#unavailable").evaluate("element => element.getBoundingClientRect().width")
        assert width <= 28 * 16 + 1

    response = page.reload()
    assert response.status == 200
    expect(page.get_by_role("heading", name="Employees")).to_be_visible()
    account_menu(page).click()  # the menu is back
    expect(page.get_by_role("button", name="Log out")).to_be_visible()
