"""The app on a phone (390 px): the menu folds behind a button, the employee
list is a list of cards, and no page scrolls sideways, even with long names,
e-mails and departments."""
import re
from datetime import date

import pytest
from playwright.sync_api import expect

from ..helpers import employee
from .test_list_in_browser import DESK, log_in

pytestmark = pytest.mark.browser
PHONE = {"width": 390, "height": 844}
LONG = "Wolfeschlegelsteinhausenbergerdorff"


@pytest.fixture
def staff(login):
    """60 employees added through the form, one with very long values (so it
    has a history too)."""
    admin = login("admin", "root")
    added = admin.submit("/employees/new", employee(
        "LONG-ID-0000000000000000000001", first_name=LONG, last_name=LONG + "-" + LONG,
        email=f"{LONG.lower()}@a-very-long-subdomain-of-the-company.example.com",
        department="Research and Development of Very Long Department Names", job_title=LONG))
    assert added.status_code == 303, added.status_code
    for n in range(1, 60):
        assert admin.submit("/employees/new", employee(f"E{n}", last_name=f"Lovelace{n:02d}",
                                                       email=f"ada{n}@example.com")).status_code == 303


def test_the_menu_folds_behind_a_button_on_a_phone(page, make_user, staff):
    make_user("hana", "hr")
    log_in(page, "hana", PHONE)
    menu = page.get_by_role("button", name="Menu")
    imports = page.get_by_role("link", name="Imports")
    expect(menu).to_have_attribute("aria-expanded", "false")
    expect(menu).to_have_attribute("aria-controls", "main-menu")
    expect(imports).to_be_hidden()

    menu.click()
    expect(menu).to_have_attribute("aria-expanded", "true")
    expect(page.locator("#main-menu")).to_be_visible()
    page.keyboard.press("Tab")  # into the menu; Escape closes it and returns to the button
    page.keyboard.press("Escape")
    expect(menu).to_have_attribute("aria-expanded", "false")
    expect(menu).to_be_focused()

    menu.click()
    imports.click()
    expect(page).to_have_url(re.compile(r"/imports$"))
    expect(page.get_by_role("button", name="Menu")).to_have_attribute("aria-expanded", "false")  # closed again

    page.set_viewport_size(DESK)  # a wide screen: the menu is a row of links, no button
    expect(page.get_by_role("button", name="Menu")).to_be_hidden()
    expect(page.locator("#main-menu").get_by_role("link", name="Add employee")).to_be_visible()


def test_the_list_is_cards_on_a_phone(page, make_user, staff):
    make_user("vera", "viewer")
    log_in(page, "vera", PHONE)
    page.goto("/employees")
    expect(page.locator("table")).to_be_hidden()
    cards = page.get_by_role("list", name="Employees").get_by_role("listitem")
    expect(cards).to_have_count(50)

    def shows(card, name: str, values: dict) -> None:
        expect(card.get_by_role("heading")).to_have_text(name)
        for label, value in values.items():
            expect(card.locator("dl > div").filter(has=page.locator("dt", has_text=label)).locator("dd")) \
                .to_have_text(value)

    shows(cards.first, "Lovelace01, Ada", {"ID": "E1", "Department": "Engineering", "Status": "active"})
    # Sorting without the table's headers (IDs by number, the long one last),
    # then page 2, a record and back.
    sort_by = page.get_by_role("navigation", name="Sort by")
    sort_by.get_by_role("link", name="ID").click()
    expect(sort_by.locator("[aria-current]")).to_contain_text("ID")
    expect(cards.nth(9)).to_contain_text("Lovelace10")
    sort_by.get_by_role("link", name="ID").click()
    expect(sort_by.locator("[aria-current]")).to_contain_text("descending")
    shows(cards.first, f"{LONG}-{LONG}, {LONG}",
          {"ID": "LONG-ID-0000000000000000000001",
           "Department": "Research and Development of Very Long Department Names", "Status": "active"})
    page.get_by_role("link", name="Next ›").click()
    expect(page.locator("#result-count")).to_have_text("Showing 51–60 of 60 employees")
    expect(page.get_by_role("list", name="Employees")).to_have_attribute("start", "51")
    cards.first.get_by_role("link").click()
    expect(page.get_by_role("heading", name="Ada Lovelace10")).to_be_visible()
    page.get_by_role("link", name="Back to the list").click()
    expect(page.locator("#result-count")).to_have_text("Showing 51–60 of 60 employees")


def test_no_page_scrolls_sideways_on_a_phone(page, make_user, staff, live_server):
    log_in(page, "root", PHONE)
    reachable = set()
    page.goto("/employees")
    page.get_by_role("button", name="Menu").click()
    for link in page.locator("#main-menu a").all():
        reachable.add(link.get_attribute("href"))
    assert reachable == {"/", "/employees", "/employees/new", "/imports", "/admin/audit", "/admin/users",
                         "/account/password", "/account/tokens", "/departments", "/jobs", "/reports"}
    record = "/employees/LONG-ID-0000000000000000000001"
    pages = sorted(reachable) + ["/employees?q=wolfe", "/employees?q=nobody", "/imports/new", record,
                                 record + "/edit", "/admin/users/new"]
    wide = []
    for path in pages:
        page.goto(path)
        for menu_open in (False, True):
            if menu_open:
                page.get_by_role("button", name="Menu").click()
            scroll, width = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
            if scroll > width:
                wide.append(f"{path} (menu {'open' if menu_open else 'closed'}): {scroll} px in {width}")
    assert wide == [], wide


def test_a_table_wider_than_a_phone_scrolls_in_its_box_and_shows_it(page, staff):
    """The columns of an import, the accounts: on a phone each table scrolls
    inside its own box (never the page), and a shadow at the box's edge says
    there is more: the box draws it, no cell covers it. (The History is
    cards instead: below.)"""
    log_in(page, "root", PHONE)
    for path in ("/imports/new", "/admin/users"):
        page.goto(path)
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), path
        boxes = page.locator(".table-wrap").evaluate_all("""boxes => boxes.map(box => ({
            scrolls: box.scrollWidth > box.clientWidth,
            shadow: /gradient/.test(getComputedStyle(box).backgroundImage)
                    && getComputedStyle(box).backgroundAttachment.includes('local'),
            opaqueCells: [...box.querySelectorAll('th, td')].filter(cell => {
                const alpha = getComputedStyle(cell).backgroundColor.match(/[\\d.]+/g)[3];
                return alpha === undefined || Number(alpha) > 0.1; }).length}))""")
        assert boxes == [{"scrolls": True, "shadow": True, "opaqueCells": 0}], (path, boxes)


def test_on_a_phone_the_list_says_where_the_bulk_changes_are(page, staff):
    """The bulk panel needs the table's tick boxes, which a phone's cards do
    not have: the admin is told where to find it instead of missing it."""
    log_in(page, "root", PHONE)
    page.goto("/employees")
    expect(page.locator("#bulk-form")).to_be_hidden()
    expect(page.locator("#bulk-elsewhere")).to_be_visible()
    expect(page.locator("#bulk-elsewhere")).to_contain_text("open this list on a wider screen")
    page.set_viewport_size(DESK)
    expect(page.locator("#bulk-form")).to_be_visible()
    expect(page.locator("#bulk-elsewhere")).to_be_hidden()


def test_the_history_is_cards_on_a_phone(page, staff):
    """Each change a card, read top to bottom, nothing to scroll sideways
    even for the record with very long values."""
    log_in(page, "root", PHONE)
    page.goto("/admin/audit?employee=LONG-ID-0000000000000000000001")
    page.wait_for_load_state("load")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    expect(page.locator(".audit-entries thead")).to_be_hidden()
    card = page.locator(".audit-entries tbody tr")
    expect(card).to_have_count(1)
    box = card.evaluate("""tr => { const box = tr.getBoundingClientRect(), wrap = tr.closest('.table-wrap');
        return {inside: box.left >= 0 && box.right <= window.innerWidth, scrolls: wrap.scrollWidth > wrap.clientWidth,
                lines: [...tr.cells].map(td => Math.round(td.getBoundingClientRect().top))}; }""")
    assert box["inside"] and not box["scrolls"], box
    when, who, record, what, changes = box["lines"]
    assert when == who < record <= what < changes, box["lines"]  # when and by whom, then record and what
    expect(card).to_contain_text(re.compile(r"UTC\s*root\s*LONG-ID-0000000000000000000001\s*Added with the form"))
    assert card.locator("td").nth(1).evaluate("td => getComputedStyle(td, '::before').content") == '"by "'
    expect(card.locator("li[data-field=first_name]")).to_contain_text(LONG)
    card.get_by_role("link", name="LONG-ID-0000000000000000000001").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(LONG)

    page.goto("/admin/audit")  # every entry: the page stays as wide as the phone
    expect(page.locator(".audit-entries tbody tr")).to_have_count(50)
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    assert page.locator(".audit-entries").evaluate("wrap => wrap.scrollWidth <= wrap.clientWidth")
    page.goto("/admin/audit?actor=nobody")
    expect(page.locator(".audit-entries td.empty")).to_have_text("No changes match.")


def test_a_long_unbroken_department_name_leaves_the_figures_on_a_phone(page, login):
    """A department named by one 100-character word (an import that put a
    code in the wrong column, say) wraps on a phone: the figures of the
    departments list and the reports stay on the screen, not scrolled away
    for every department."""
    admin = login("admin", "root")
    added = admin.submit("/employees/new", employee("E1", department="W" * 100,
                                                    hire_date=f"{date.today().year}-01-01"))
    assert added.status_code == 303, added.status_code
    log_in(page, "root", PHONE)
    for path, table in (("/departments", ".list-table table"), ("/reports/headcount", "#headcount"),
                        ("/reports/hires-by-quarter", "#department-totals"),
                        ("/reports/hires-by-quarter", "#quarter-rows")):
        page.goto(path)
        fits = page.locator(table).evaluate(
            "table => { const wrap = table.closest('.table-wrap'); return [wrap.scrollWidth, wrap.clientWidth]; }")
        assert fits[0] <= fits[1], (path, table, fits)
