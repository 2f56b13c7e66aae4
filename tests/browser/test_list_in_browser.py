"""The employee list at a desk (1280 px): export what the list shows, page
through it, open a record and come back to the same page, clear the
filters; and what an empty app says on the first login."""
import csv
import re
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import expect

from ..helpers import PASSWORD

pytestmark = pytest.mark.browser
DESK = {"width": 1280, "height": 800}


def log_in(page, username: str, viewport: dict = DESK) -> None:
    page.set_viewport_size(viewport)
    page.goto("/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).not_to_have_url(re.compile(r"/login"))


@pytest.fixture
def staff(pg) -> dict:
    """130 people in Sales (every third on leave), 70 in Finance; IDs S1..S200."""
    departments = {name: pg.execute("INSERT INTO departments (name) VALUES (%s) RETURNING id", (name,)).fetchone()[0]
                   for name in ("Sales", "Finance")}
    pg.execute("""
        INSERT INTO employees (employee_id, first_name, last_name, email, department_id, status, hire_date)
        SELECT 'S' || n, 'Ada', 'Smith' || lpad(n::text, 3, '0'), 's' || n || '@example.com',
               CASE WHEN n <= 130 THEN %s ELSE %s END,
               CASE WHEN n %% 3 = 0 THEN 'on_leave' ELSE 'active' END, date '2020-01-01' + n
        FROM generate_series(1, 200) AS n""", (departments["Sales"], departments["Finance"]))
    pg.execute("ANALYZE employees")
    return departments


def count(page):
    return page.locator("#result-count")


def test_export_csv_downloads_what_the_list_shows(page, make_user, staff, tmp_path):
    make_user("hana", "hr")
    log_in(page, "hana")
    page.goto("/employees")
    page.get_by_label("Search by ID, name or e-mail").fill("smith1")  # Smith100 ... Smith199
    page.get_by_label("Department").select_option(label="Sales")
    page.get_by_label("Status").select_option(label="On leave")
    page.get_by_role("button", name="Search").click()
    shown = [f"S{n}" for n in range(100, 131) if n % 3 == 0]
    expect(count(page)).to_have_text(f"{len(shown)} employees")

    with page.expect_download() as download_info:
        page.get_by_role("link", name="Export CSV").click()
    download = download_info.value
    path = tmp_path / download.suggested_filename
    download.save_as(path)
    with open(path, encoding="utf-8-sig", newline="") as file:
        rows = list(csv.DictReader(file))
    assert sorted(row["employee_id"] for row in rows) == sorted(shown)
    assert {(row["department"], row["status"]) for row in rows} == {("Sales", "on_leave")}


def test_no_export_button_for_a_viewer(page, make_user, staff):
    make_user("vera", "viewer")
    log_in(page, "vera")
    page.goto("/employees")
    expect(page.get_by_text("Showing 1–50 of 200 employees")).to_be_visible()
    expect(page.get_by_role("link", name="Export CSV")).to_have_count(0)


def test_page_two_a_record_and_back_then_clear_the_filters(page, make_user, staff):
    make_user("vera", "viewer")
    log_in(page, "vera")
    page.goto("/employees")
    page.get_by_label("Department").select_option(label="Sales")
    page.get_by_role("button", name="Search").click()
    expect(count(page)).to_have_text("Showing 1–50 of 130 employees")

    page.get_by_role("link", name="Next ›").click()
    expect(count(page)).to_have_text("Showing 51–100 of 130 employees")
    list_url = page.url
    first = page.locator("table tbody tr").first.get_by_role("link")
    employee_id = first.inner_text()
    first.click()
    expect(page).to_have_url(re.compile(rf"/employees/{employee_id}\?"))

    page.get_by_role("link", name="Back to the list").click()
    assert parse_qs(urlsplit(page.url).query) == parse_qs(urlsplit(list_url).query)  # blank values aside
    expect(count(page)).to_have_text("Showing 51–100 of 130 employees")
    expect(page.get_by_label("Department")).to_have_value(str(staff["Sales"]))
    expect(page.locator("table tbody tr").first.get_by_role("link")).to_have_text(employee_id)

    page.get_by_role("link", name="Clear filters").click()
    expect(page.get_by_label("Department")).to_have_value("")
    expect(count(page)).to_have_text("Showing 1–50 of 200 employees")
    expect(page.get_by_role("link", name="Clear filters")).to_have_count(0)


def test_sorting_by_hire_date_newest_first_keeps_blank_dates_last(page, make_user, staff, pg):
    pg.execute("UPDATE employees SET hire_date = NULL WHERE employee_id IN ('S150', 'S7')")
    make_user("vera", "viewer")
    log_in(page, "vera")
    page.goto("/employees")
    page.get_by_role("link", name="Hire date").click()
    expect(page.locator("th[aria-sort=ascending]")).to_have_text(re.compile("Hire date"))
    page.get_by_role("link", name="Hire date").click()  # again: newest first
    expect(page.locator("th[aria-sort=descending]")).to_have_text(re.compile("Hire date"))
    expect(page.locator("table tbody tr").first.get_by_role("link")).to_have_text("S200")
    for _ in range(3):
        page.get_by_role("link", name="Next ›").click()
    expect(count(page)).to_have_text("Showing 151–200 of 200 employees")
    last_two = page.locator("table tbody tr").nth(48).get_by_role("link"), \
        page.locator("table tbody tr").nth(49).get_by_role("link")
    expect(last_two[0]).to_have_text("S150")  # no date: last, the newer record first
    expect(last_two[1]).to_have_text("S7")


@pytest.mark.parametrize("role", ["hr", "viewer"])
def test_the_first_login_to_an_empty_app_says_what_to_do(page, make_user, role):
    make_user("first", role)
    log_in(page, "first")
    page.goto("/")
    expect(page.get_by_role("heading", name="No employee records yet")).to_be_visible()
    if role == "viewer":
        expect(page.get_by_text("ask your HR team or an administrator")).to_be_visible()
        expect(page.get_by_role("link", name="Add an employee")).to_have_count(0)
        return
    expect(page.get_by_role("link", name="Import a file")).to_have_attribute("href", "/imports/new")
    page.get_by_role("link", name="Add an employee").click()
    expect(page.get_by_role("heading", name="Add employee")).to_be_visible()
