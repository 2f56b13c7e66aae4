"""A person at a browser: log in, add an employee, meet the duplicate guard."""
import re

import pytest
from playwright.sync_api import expect

from ..helpers import PASSWORD

pytestmark = pytest.mark.browser


def test_add_an_employee_then_see_the_id_is_taken(page, make_user):
    make_user("hana", "hr")
    page.goto("/employees/new")
    expect(page).to_have_url(re.compile(r"/login\?next="))
    page.get_by_label("Username").fill("hana")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Add employee")).to_be_visible()

    page.get_by_label("Employee ID").fill("E2001")
    expect(page.locator("#employee_id-check")).to_contain_text("E2001 is available")
    page.get_by_label("First name").fill("Katherine")
    page.get_by_label("Last name").fill("Johnson")
    page.get_by_label("Work e-mail").fill("katherine.johnson@example.com")
    page.get_by_label("Department").fill("Flight Research")
    page.get_by_label("Hire date").fill("2021-07-27")
    page.get_by_role("button", name="Add employee").click()

    expect(page).to_have_url(re.compile(r"/employees/E2001$"))
    expect(page.get_by_role("heading", name=re.compile("Katherine Johnson"))).to_be_visible()
    expect(page.get_by_text("Employee E2001 (Katherine Johnson) added.")).to_be_visible()

    # The same ID again: the as-you-type check says so before submitting ...
    page.get_by_role("link", name="Add another employee").click()
    expect(page.get_by_role("heading", name="Add employee")).to_be_visible()
    page.get_by_label("Employee ID").press_sequentially("e2001", delay=30)
    check = page.locator("#employee_id-check")
    expect(check).to_contain_text("E2001 is already taken by")
    expect(check.get_by_role("link", name="Katherine Johnson")).to_have_attribute("href", "/employees/E2001")

    # ... and submitting anyway says it at the field, with a link, keeping the input.
    page.get_by_label("First name").fill("Kay")
    page.get_by_label("Last name").fill("Jay")
    page.get_by_role("button", name="Add employee").click()
    expect(page.get_by_role("alert")).to_have_text("The employee was not added: see the fields marked below.")
    expect(page.locator("#employee_id-error")).to_contain_text("Employee ID E2001 already exists")
    expect(page.locator("#employee_id-error").get_by_role("link", name="Open E2001")).to_be_visible()
    expect(page.get_by_label("First name")).to_have_value("Kay")
