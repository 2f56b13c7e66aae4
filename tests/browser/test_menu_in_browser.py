"""The main menu: Overview first, each role's items on one row with the brand
on a laptop (1366 and 1280 px; at 1024 px it may wrap, never overlap), and
the account (name, role, Change password, API tokens, Log out) folded into
one menu that opens with a click, with the keyboard, without a script, and
inside the Menu button's menu on a phone."""
import re

import pytest
from playwright.sync_api import expect

from .conftest import watched_page
from .test_list_in_browser import log_in
from .test_phone_layout import PHONE

pytestmark = pytest.mark.browser
LAPTOP = {"width": 1366, "height": 768}
COMMON = ["Overview", "Employees", "Departments", "Jobs", "Reports"]
ITEMS = {"admin": COMMON + ["Add employee", "Imports", "History", "Users"],
         "hr": COMMON + ["Add employee", "Imports"],
         "viewer": COMMON}
ROLE_NAMES = {"admin": "Administrator", "hr": "HR staff", "viewer": "Read only"}
# A long name (as long as the account menu shows before it ends in "…"):
# the admin's row must fit with it, not only with a short one.
NAMES = {"admin": "margaret.hamilton-lee", "hr": "hana", "viewer": "vera"}


def account_menu(page):
    """The account menu's summary (its name and role); click it to open."""
    return page.locator("#main-menu details.account-menu > summary")


def log_out_button(page):
    return page.locator("#main-menu").get_by_role("button", name="Log out")


def menu_boxes(page) -> list[dict]:
    """The brand and every top-level menu item (a link, or the account
    menu's summary) as {name, left, right, top, bottom}."""
    return page.evaluate("""() => [document.querySelector('nav .brand'),
        ...document.querySelectorAll('#main-menu > li > a, #main-menu > li > details > summary')].map(e => {
            const r = e.getBoundingClientRect();
            return {name: e.innerText.split('\\n')[0], left: r.left, right: r.right, top: r.top, bottom: r.bottom}; })""")


def box(name: str, locator) -> dict:
    found = locator.bounding_box()
    return {"name": name, "left": found["x"], "right": found["x"] + found["width"],
            "top": found["y"], "bottom": found["y"] + found["height"]}


def overlapping(boxes: list[dict]) -> list[tuple[str, str]]:
    return [(a["name"], b["name"]) for i, a in enumerate(boxes) for b in boxes[i + 1:]
            if a["left"] < b["right"] - 1 and b["left"] < a["right"] - 1
            and a["top"] < b["bottom"] - 1 and b["top"] < a["bottom"] - 1]


@pytest.mark.parametrize("role", ["admin", "hr", "viewer"])
def test_each_role_sees_its_items_on_one_row_with_the_brand(page, make_user, role):
    make_user(NAMES[role], role)
    log_in(page, NAMES[role], LAPTOP)
    page.goto("/")
    top_level = page.locator("#main-menu > li > a")
    expect(top_level).to_have_text(ITEMS[role])
    expect(account_menu(page)).to_have_text(re.compile(rf"^\s*{re.escape(NAMES[role])}\s+{ROLE_NAMES[role]}\s*$"))
    widths = {"admin": [1366, 1280], "hr": [1366], "viewer": [1366]}[role]
    for width in widths:
        page.set_viewport_size({"width": width, "height": 768})
        boxes = menu_boxes(page)
        assert [box["name"] for box in boxes] == ["Employee records"] + ITEMS[role] + [NAMES[role]]
        brand = boxes[0]
        middle = (brand["top"] + brand["bottom"]) / 2
        off_row = [box["name"] for box in boxes if abs((box["top"] + box["bottom"]) / 2 - middle) > 3]
        assert off_row == [], f"at {width} px not on the brand's row: {off_row} ({boxes})"
        assert [box["name"] for box in sorted(boxes, key=lambda box: box["left"])] == [box["name"] for box in boxes]
        assert overlapping(boxes) == [], (width, boxes)
        assert boxes[-1]["right"] <= width, f"at {width} px the account menu is cut off: {boxes[-1]}"


def test_at_1024_px_the_admins_menu_wraps_under_the_brand_without_overlapping(page, make_user):
    make_user(NAMES["admin"], "admin")
    log_in(page, NAMES["admin"], {"width": 1024, "height": 768})
    page.goto("/employees")
    expect(page.get_by_role("button", name="Menu")).to_be_hidden()  # folded below 1024 px only
    boxes = menu_boxes(page)
    brand, items = boxes[0], boxes[1:]
    assert overlapping(boxes) == [], boxes
    assert all(box["top"] >= brand["bottom"] for box in items), boxes  # a row of its own, under the brand
    assert all(0 <= box["left"] and box["right"] <= 1024 for box in boxes), boxes
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def test_the_account_menu_opens_and_logs_out(page, make_user):
    make_user("hana", "hr")
    log_in(page, "hana", LAPTOP)
    page.goto("/employees")
    change_password = page.get_by_role("link", name="Change password")
    expect(change_password).to_be_hidden()
    expect(log_out_button(page)).to_be_hidden()
    account_menu(page).click()
    expect(change_password).to_be_visible()
    expect(page.get_by_role("link", name="API tokens")).to_be_visible()
    # The list opens under the summary, inside the window.
    summary, listed = box("summary", account_menu(page)), box("list", page.locator(".account-menu > ul"))
    assert listed["top"] >= summary["bottom"] - 1 and listed["right"] <= LAPTOP["width"], (summary, listed)
    log_out_button(page).click()
    expect(page).to_have_url(re.compile(r"/login$"))
    expect(page.get_by_text("You are logged out.")).to_be_visible()
    page.goto("/employees")
    expect(page).to_have_url(re.compile(r"/login"))


def test_the_account_menu_works_with_the_keyboard(page, make_user):
    make_user("hana", "hr")
    log_in(page, "hana", LAPTOP)
    page.goto("/employees")
    page.locator("#main-menu").get_by_role("link", name="Imports").focus()
    page.keyboard.press("Tab")
    expect(account_menu(page)).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.get_by_role("link", name="Change password")).to_be_visible()
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Change password")).to_be_focused()
    page.keyboard.press("Escape")  # closes it, back on its name (js/menu.js)
    expect(page.get_by_role("link", name="Change password")).to_be_hidden()
    expect(account_menu(page)).to_be_focused()
    page.keyboard.press("Space")
    for name in ("Change password", "API tokens"):
        page.keyboard.press("Tab")
        expect(page.get_by_role("link", name=name)).to_be_focused()
    page.keyboard.press("Tab")
    expect(log_out_button(page)).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.get_by_text("You are logged out.")).to_be_visible()


def test_the_account_menu_works_without_javascript(browser, live_server, make_user):
    make_user("hana", "hr")
    with watched_page(browser, live_server, java_script_enabled=False) as page:
        log_in(page, "hana", LAPTOP)
        page.goto("/employees")
        account_menu(page).click()
        page.get_by_role("link", name="API tokens").click()
        expect(page.get_by_role("heading", name="API tokens")).to_be_visible()
        account_menu(page).click()
        log_out_button(page).click()
        expect(page.get_by_text("You are logged out.")).to_be_visible()


def test_on_a_phone_the_account_menu_is_in_the_folded_menu(page, make_user):
    make_user("vera", "viewer")
    log_in(page, "vera", PHONE)
    page.goto("/")
    expect(account_menu(page)).to_be_hidden()
    page.get_by_role("button", name="Menu").click()
    expect(account_menu(page)).to_be_visible()
    account_menu(page).click()
    expect(page.get_by_role("link", name="Change password")).to_be_visible()
    expect(log_out_button(page)).to_be_in_viewport()
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    # Opened in the column: what follows moves down, nothing is covered.
    assert overlapping([box("list", page.locator(".account-menu > ul")),
                        box("heading", page.get_by_role("heading", name="Overview"))]) == []
    log_out_button(page).click()
    expect(page).to_have_url(re.compile(r"/login$"))
    expect(page.get_by_text("You are logged out.")).to_be_visible()


def test_the_current_page_is_marked_in_the_menu(page, make_user):
    make_user("hana", "hr")
    log_in(page, "hana", LAPTOP)
    menu = page.locator("#main-menu")
    for path, current in (("/", "Overview"), ("/employees", "Employees"), ("/departments", "Departments"),
                          ("/account/password", "Change password")):
        page.goto(path)
        expect(menu.locator("[aria-current]")).to_have_count(1)
        expect(menu.locator('[aria-current="page"]')).to_have_text(current)
    page.goto("/employees")
    page.get_by_role("link", name="Overview").click()
    expect(page).to_have_url(re.compile(r"/$"))
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    expect(menu.get_by_role("link", name="Overview")).to_have_attribute("aria-current", "page")
