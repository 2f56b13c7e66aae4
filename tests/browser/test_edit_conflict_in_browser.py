"""Two admins at two browsers edit the same record: the second, stale save is
refused and shows what the first one changed; nothing is silently lost."""
import re

import pytest
from playwright.sync_api import expect

from ..helpers import PASSWORD
from .conftest import watched_page

pytestmark = pytest.mark.browser


def log_in(page, username: str, path: str) -> None:
    page.goto(path)
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()


@pytest.fixture
def second_page(browser, live_server):
    """Another browser context: its own cookies, as a second person has."""
    with watched_page(browser, live_server) as opened:
        yield opened


def test_a_stale_save_in_a_second_browser_shows_the_conflict_and_merges(page, second_page, app, make_user):
    from employee_app.services import employees

    make_user("ann", "admin")
    make_user("bob", "admin")
    with app.app_context():
        employees.create_employee({"employee_id": "E1", "first_name": "Grace", "last_name": "Hopper",
                                   "job_title": "Analyst", "location": "London"})

    # Ann opens the record and its edit page; so does Bob, in his own browser.
    log_in(page, "ann", "/employees/E1")
    page.get_by_role("link", name="Edit", exact=True).click()
    expect(page.get_by_role("heading", name="Edit E1")).to_be_visible()
    bob = second_page
    log_in(bob, "bob", "/employees/E1/edit")
    expect(bob.get_by_role("heading", name="Edit E1")).to_be_visible()

    # The as-you-type ID check knows the record's own ID is not "taken".
    page.get_by_label("Employee ID").fill("")
    page.get_by_label("Employee ID").press_sequentially("e1", delay=30)
    expect(page.locator("#employee_id-check")).to_contain_text("E1 is this record's current ID")

    # Ann saves first.
    page.get_by_label("Job title").fill("Lead Analyst")
    page.get_by_role("button", name="Save changes").click()
    expect(page).to_have_url(re.compile(r"/employees/E1$"))
    expect(page.get_by_text("Employee E1 (Grace Hopper) saved: Job title changed.")).to_be_visible()
    expect(page.locator("#history")).to_contain_text("Edited")

    # Bob saves his stale copy: refused, with both people's values side by side.
    bob.get_by_label("Location").fill("Paris")
    bob.get_by_role("button", name="Save changes").click()
    expect(bob.get_by_role("heading", name="Not saved: E1 was changed by someone else")).to_be_visible()
    expect(bob.get_by_text("Edited by ann")).to_be_visible()
    job_row = bob.locator('tr[data-field="job_title"]')
    expect(job_row.locator("td.opened")).to_have_text("Analyst")
    expect(job_row.locator("td.stored")).to_contain_text("Lead Analyst")
    expect(job_row.locator("td.stored")).to_contain_text("changed by them")
    location_row = bob.locator('tr[data-field="location"]')
    expect(location_row.locator("td.stored")).to_have_text("London")
    expect(location_row.locator("td.typed")).to_contain_text("Paris")
    # The form below keeps Bob's change and takes Ann's for the field he left alone.
    expect(bob.get_by_label("Location")).to_have_value("Paris")
    expect(bob.get_by_label("Job title")).to_have_value("Lead Analyst")

    bob.get_by_role("button", name="Save my values").click()
    expect(bob).to_have_url(re.compile(r"/employees/E1$"))
    record = bob.locator("dl.record")
    expect(record).to_contain_text("Lead Analyst")
    expect(record).to_contain_text("Paris")

    # Ann's list page: "select all" ticks every row's box (a script file, CSP-clean).
    page.goto("/employees")
    page.get_by_label("Select all employees on this page").check()
    expect(page.get_by_label("Select E1")).to_be_checked()
    expect(page.locator("#bulk-count")).to_have_text("(1 selected)")
