"""A list page and its upload in Chromium, at a desk (1280 px) and on a
phone (390 px): an admin finds the departments in the menu, adds one, uploads
a list with the page's form, reads the report, opens an entry, renames it and
sees its history. No page scrolls sideways; `page` (watched_page) fails on
any script error or CSP violation."""
import re

import pytest
from playwright.sync_api import expect

from .test_list_in_browser import DESK, log_in
from .test_phone_layout import PHONE

pytestmark = pytest.mark.browser


def sideways(page) -> str | None:
    scroll, width = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    return f"{page.url}: {scroll} px in {width}" if scroll > width else None


@pytest.mark.parametrize("viewport", [DESK, PHONE], ids=["desk", "phone"])
def test_an_admin_adds_uploads_and_renames_a_department(page, make_user, pg, tmp_path, viewport):
    engineering = pg.execute("INSERT INTO departments (name) VALUES ('Engineering') RETURNING id").fetchone()[0]
    pg.execute("INSERT INTO employees (employee_id, first_name, last_name, department_id)"
               " VALUES ('E1', 'Ada', 'Lovelace', %s)", (engineering,))
    make_user("root", "admin")
    log_in(page, "root", viewport)
    wide = []

    if viewport == PHONE:
        page.get_by_role("button", name="Menu").click()
    page.locator("#main-menu").get_by_role("link", name="Departments").click()
    expect(page.get_by_role("heading", name="Departments", exact=True)).to_be_visible()
    expect(page.locator('#main-menu a[href="/departments"]')).to_have_attribute("aria-current", "page")
    wide.append(sideways(page))

    page.get_by_role("textbox", name="Name", exact=True).fill("Finance")
    page.get_by_label("Code", exact=True).fill("F1")
    page.get_by_role("button", name="Add department").click()
    expect(page.get_by_role("status")).to_have_text("Department Finance (code F1) added.")

    upload = tmp_path / "departments.csv"
    upload.write_text("code,name\nF1,Finance and Control\n10,Engineering\n20,Legal\n"
                      "30,A department whose name is far too long to be one " + "x" * 200 + "\n")
    page.get_by_label("CSV or Excel (.xlsx) file").set_input_files(upload)
    page.get_by_role("button", name="Upload the list").click()
    expect(page.get_by_role("heading", name="Departments: upload report")).to_be_visible()
    for outcome, count in (("added", "1"), ("renamed", "1"), ("coded", "1"), ("unchanged", "0"), ("refused", "1")):
        expect(page.locator(f"#count-{outcome}")).to_have_text(count)
    expect(page.locator("#refused-rows")).to_contain_text("Name is longer than 100 characters.")
    expect(page.locator("#renamed-rows")).to_contain_text("Finance and Control")
    wide.append(sideways(page))

    page.get_by_role("link", name="Back to the departments").click()
    expect(page.locator("#list-summary")).to_contain_text("3 departments.")
    page.get_by_role("link", name="Finance and Control").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Finance and Control")
    wide.append(sideways(page))
    page.get_by_role("textbox", name="Name", exact=True).fill("Finance")
    page.get_by_role("button", name="Save changes").click()
    expect(page.get_by_role("status")).to_have_text(
        "Department saved: renamed from Finance and Control to Finance.")
    history = page.locator("#history")
    expect(history).to_contain_text("Changed on the list page")
    expect(history).to_contain_text("Changed by a list upload")
    expect(history).to_contain_text("Added on the list page")
    wide.append(sideways(page))

    # Engineering (given code 10 by the upload) is used: its page says so, and offers no delete.
    page.goto(f"/departments/{engineering}")
    expect(page.locator("#entry-code")).to_have_text("10")
    expect(page.locator("#delete-blocked")).to_have_text(
        re.compile(r"Engineering is the department of 1 employee: merge it into another department above, or move "
                   r"them first\."))
    expect(page.get_by_role("button", name=re.compile("Delete"))).to_have_count(0)
    assert [problem for problem in wide if problem] == []
