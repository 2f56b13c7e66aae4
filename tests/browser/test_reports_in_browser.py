"""The dashboard and the reports in Chromium, at a desk (1280 px) and on a
phone (390 px): each chart is drawn (its bars have a size on the screen and
say what they stand for), fits the screen, and sits next to its table; no
page scrolls sideways. `page` (watched_page) fails on any script error or CSP
violation; this module also fails on any other console error (a missing
stylesheet, a refused resource)."""
import re
from datetime import date, timedelta

import pytest
from playwright.sync_api import expect

from .test_list_in_browser import DESK, log_in
from .test_phone_layout import PHONE
from .test_lists_in_browser import sideways

pytestmark = pytest.mark.browser

DEPARTMENTS = ["Engineering", "Sales", "Customer Service and Long-Distance Field Operations"]


@pytest.fixture
def company(pg):
    """Employees in three departments: hired this quarter and last year,
    some on leave, some who left; the year whose hires the test reads."""
    today = date.today()
    year = today.year - 1
    department_ids = [pg.execute("INSERT INTO departments (name) VALUES (%s) RETURNING id", (name,)).fetchone()[0]
                      for name in DEPARTMENTS]
    job_id = pg.execute("INSERT INTO jobs (name) VALUES ('Clerk') RETURNING id").fetchone()[0]
    rows = []
    for number in range(60):
        department = department_ids[number % 3]
        hired = date(year, number % 12 + 1, 10) if number % 4 else today.replace(day=1)
        status, left = ("on_leave", None) if number % 7 == 0 else ("active", None)
        if number % 9 == 0:
            status, left = "terminated", today - timedelta(days=1) if number % 2 else today.replace(day=1)
        rows.append((f"E{number:03}", "Ada", f"Lovelace{number}", hired, status, left, department, job_id))
    with pg.cursor() as cursor:
        cursor.executemany("INSERT INTO employees (employee_id, first_name, last_name, hire_date, status,"
                           " termination_date, department_id, job_id) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)", rows)
    return year


def console_errors(page) -> list[str]:
    errors = []
    page.on("console", lambda message: message.type == "error" and errors.append(message.text))
    return errors


def check_chart(page, chart_id: str, viewport: dict) -> None:
    """The chart is on the screen, as wide as its column allows and no
    wider than the window, and its bars are drawn with a size."""
    chart = page.locator(f"svg[aria-labelledby='{chart_id}-title']")
    expect(chart).to_be_visible()
    box = chart.bounding_box()
    assert box["width"] > 250 and box["x"] >= 0 and box["x"] + box["width"] <= viewport["width"], box
    bars = chart.locator("rect[class^='series-']")
    sizes = [bars.nth(i).bounding_box() for i in range(bars.count())]
    drawn = [size for size in sizes if size["width"] > 0 and size["height"] > 0]
    assert len(drawn) >= 3, sizes  # (a month without leavers has a leavers bar of no height)
    # The chart and its parts say what they stand for (a tooltip, and what a screen reader reads).
    titles = chart.locator("title").all_text_contents()
    assert len(titles) > len(drawn) // 2 and all(titles), titles


@pytest.mark.parametrize("viewport", [DESK, PHONE], ids=["desk", "phone"])
def test_the_dashboard_and_a_report_draw_their_charts(page, company, make_user, viewport):
    errors = console_errors(page)
    make_user("root", "admin")
    log_in(page, "root", viewport)
    wide = []

    page.goto("/")
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    expect(page.locator("#headcount-total")).not_to_have_text("0")
    check_chart(page, "headcount-chart", viewport)
    for name in DEPARTMENTS:  # each department's bar, and its row in the table beside
        expect(page.locator("svg[aria-labelledby='headcount-chart-title'] text").filter(
            has_text=name[:20])).to_have_count(1)
        expect(page.locator("#headcount")).to_contain_text(name)
    wide.append(sideways(page))

    page.get_by_role("link", name="Hires by quarter").first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Hires by quarter, {date.today().year}")
    page.get_by_label("Year").select_option(str(company))
    page.get_by_role("button", name="Show").click()
    expect(page).to_have_url(f"/reports/hires-by-quarter?year={company}")
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Hires by quarter, {company}")
    check_chart(page, "quarters-chart", viewport)
    expect(page.locator("#department-totals tfoot")).to_contain_text("45")  # 60 hires, 15 of them this quarter
    wide.append(sideways(page))

    page.goto("/reports/hires-and-leavers")
    check_chart(page, "months-chart", viewport)
    wide.append(sideways(page))

    assert [problem for problem in wide if problem] == []
    assert errors == []


def test_the_headcount_date_is_a_date_picker_that_offers_only_dates_it_can_show(page, make_user, company):
    """The picker stops at the dates the report takes (1900-01-01 to two
    years from today): a date past them is not sent. A link with a date the
    report cannot take (typed, or an old bookmark) shows the form again
    with the reason at the field and the keyboard on it (HTTP 400)."""
    make_user("vera", "viewer")
    log_in(page, "vera", DESK)
    page.goto("/reports/headcount")
    field = page.get_by_label("On", exact=True)
    today = date.today()
    latest = today.replace(year=today.year + 2, day=min(today.day, 28))
    expect(field).to_have_attribute("type", "date")
    expect(field).to_have_attribute("min", "1900-01-01")
    expect(field).to_have_attribute("max", latest.isoformat())
    field.fill("9999-12-31")
    page.get_by_role("button", name="Show").click()
    assert field.evaluate("input => input.validity.rangeOverflow")
    expect(page).not_to_have_url(re.compile(r"date=9999"))
    field.fill("2024-02-29")
    page.get_by_role("button", name="Show").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Headcount on 2024-02-29")

    response = page.goto("/reports/headcount?date=0001-01-01")
    assert response.status == 400
    expect(page.get_by_role("heading", level=1)).to_have_text("Headcount")
    expect(field).to_be_focused()
    expect(field).to_have_attribute("aria-invalid", "true")
    expect(field).to_have_accessible_description(re.compile(r"0001-01-01 is out of range: from 1900-01-01 to"))
    expect(page.get_by_role("link", name="Download CSV")).to_have_count(0)
    expect(page.locator("#headcount")).to_have_count(0)
    page.get_by_role("link", name="Today").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Headcount on {today}")
