"""The import pages as HR staff read them, on a desktop and on a phone: a
dry run and a refused all-or-nothing never say "inserted", the mapping of a
35-column file without a header, cancelling at the mapping."""
import csv
import io
import re

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout, expect

from ..helpers import PASSWORD
from ..imports.conftest import start_worker, worker  # noqa: F401 (fixtures)

pytestmark = pytest.mark.browser

DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
NO_SIDEWAYS_SCROLL = "document.documentElement.scrollWidth <= window.innerWidth"
DRY_RUN = "Dry run: check and count, write nothing"
ALL_OR_NOTHING = "All or nothing: write nothing unless every row is valid and new"


def staff_csv(count: int, bad_email_rows: int = 0) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["Employee ID", "First Name", "Last Name", "E-mail"])
    for n in range(1, count + 1):
        writer.writerow([f"S{n:05d}", "Ada", f"Name{n}", f"s{n}@example.com"])
    for n in range(bad_email_rows):
        writer.writerow([f"X{n:05d}", "Bad", "Mail", "not-an-address"])
    return buffer.getvalue().encode()


def wide_headerless_csv(rows: int = 8, columns: int = 35) -> bytes:
    """No header; an ID, a full name, an e-mail, a hire date, then long text
    (one unbroken token among it, the kind that pushes a phone page wide)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    for n in range(1, rows + 1):
        writer.writerow([f"M{n:04d}", f"Grace {['Hopper', 'Lovelace'][n % 2]}", f"m{n}@example.com", "2024-03-01",
                         *[f"Extra detail {c} of a very wide export, row {n}" if c % 5 else
                           f"unbroken_{c}_" + "x" * 80 for c in range(4, columns)]])
    return buffer.getvalue().encode()


def log_in(page, make_user, username: str = "imogen") -> None:
    make_user(username, "hr")
    page.goto("/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).not_to_have_url(re.compile(r"/login"))


def upload(page, tmp_path, content: bytes, name: str, mode: str | None = None) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    page.goto("/imports/new")
    page.get_by_label("CSV or Excel (.xlsx) file").set_input_files(str(path))
    if mode:
        page.get_by_label(mode).check()
    page.get_by_role("button", name="Upload").click()


def import_id(page) -> int:
    return int(re.search(r"/imports/(\d+)", page.url).group(1))


def fits_a_phone(page) -> None:
    page.set_viewport_size(PHONE)
    page.reload()
    assert page.evaluate(NO_SIDEWAYS_SCROLL), f"{page.url} scrolls sideways at 390 px"
    page.set_viewport_size(DESKTOP)


def card(page, name: str):
    """A stat card (label and figure) by its figure's id."""
    return page.locator("dl.counts > div").filter(has=page.locator(f"#count-{name}"))


def history_row(page, number: int):
    page.goto("/imports")
    return page.locator(f"#import-{number}")


def test_a_dry_run_says_would_be_added_and_nothing_was_written(page, make_user, worker, tmp_path):
    page.set_viewport_size(DESKTOP)
    log_in(page, make_user)
    upload(page, tmp_path, staff_csv(1_980), "staff.csv", DRY_RUN)

    expect(page).to_have_url(re.compile(r"/imports/\d+$"))
    expect(page.locator("#import-status")).to_have_text("checked", timeout=60_000)
    expect(card(page, "added")).to_contain_text("Would be added")
    expect(page.locator("#count-added")).to_have_text("1,980")
    expect(page.locator("#import-outcome")).to_contain_text("Dry run: nothing was written. 1,980 of 1,980 rows "
                                                            "would be added.")
    expect(page.locator("#import-sum")).to_have_text(
        "1,980 would be added + 0 duplicates + 0 invalid = 1,980 of 1,980 rows read.")
    expect(page.locator("main")).not_to_contain_text(re.compile("inserted", re.I))
    expect(page.locator("#import-file")).to_contain_text(re.compile(r"\(CSV, \d+\.\d KB\)"))
    expect(page.locator("#import-started")).to_contain_text("UTC")
    expect(page.locator("#import-duration")).to_have_text(re.compile(r"^\d+(\.\d)? s$"))
    fits_a_phone(page)

    row = history_row(page, import_id(page))
    expect(row.locator(".badge")).to_have_text("checked")
    expect(row.locator("td.stored")).to_have_text(re.compile(r"^0\b"))
    expect(row.locator("td.stored .unwritten")).to_have_text("1,980 would be added")
    fits_a_phone(page)


def test_a_refused_all_or_nothing_says_not_written(page, make_user, worker, tmp_path):
    page.set_viewport_size(DESKTOP)
    log_in(page, make_user)
    upload(page, tmp_path, staff_csv(1_980, bad_email_rows=1), "staff.csv", ALL_OR_NOTHING)

    expect(page.locator("#import-status")).to_have_text("refused", timeout=60_000)
    expect(card(page, "added")).to_contain_text("Valid (not written)")
    expect(page.locator("#count-added")).to_have_text("1,980")
    expect(card(page, "invalid")).to_contain_text("1")
    expect(page.locator("#import-outcome")).to_contain_text(
        "Refused: nothing was written, because 1 of 1,981 rows has problems (all or nothing).")
    expect(page.locator("#import-sum")).to_have_text(
        "1,980 valid (not written) + 0 duplicates + 1 invalid = 1,981 of 1,981 rows read.")
    expect(page.locator("main")).not_to_contain_text(re.compile("inserted", re.I))
    expect(page.locator("#rejections tbody tr")).to_contain_text(["Work e-mail"])  # the field by its label
    fits_a_phone(page)

    row = history_row(page, import_id(page))
    expect(row.locator(".badge")).to_have_text("refused")
    expect(row.locator("td.stored")).to_have_text(re.compile(r"^0\b"))
    expect(row.locator("td.stored .unwritten")).to_have_text("1,980 valid (not written)")


def test_the_mapping_of_a_35_column_file_without_a_header(page, make_user, worker, tmp_path):
    page.set_viewport_size(PHONE)
    log_in(page, make_user)
    upload(page, tmp_path, wide_headerless_csv(), "wide.csv")

    expect(page).to_have_url(re.compile(r"/imports/\d+/mapping$"))
    rows = page.locator("table.mapping-columns tbody tr")
    expect(rows).to_have_count(35)
    expect(rows.nth(34)).to_contain_text("Column 35")
    # Measured once the page has loaded (its stylesheet and menu script):
    # a busy machine may lay it out before they apply.
    page.wait_for_load_state("load")
    try:
        page.wait_for_function(NO_SIDEWAYS_SCROLL, timeout=5_000)
    except PlaywrightTimeout:
        raise AssertionError("the mapping page scrolls sideways at 390 px") from None
    # The first row is data: shown once, among the values.
    expect(page.get_by_text("M0001", exact=True)).to_have_count(1)
    expect(page.locator(".column-header")).to_have_count(0)
    expect(page.locator("#column-0 option:checked")).to_have_text("Employee ID")
    expect(page.locator("#column-1 option:checked")).to_have_text("Full name (First Last)")
    expect(page.locator("#column-4 option:checked")).to_have_text("Ignore this column")

    # Ticking the switch makes the first row the header, at once.
    page.get_by_label("The first row is a header").check()
    expect(page.locator(".column-header").first).to_have_text("M0001")
    expect(page.get_by_text("M0001", exact=True)).to_have_count(1)
    expect(page.locator("#columns-note")).to_contain_text("The first row names them")
    expect(page.locator("#column-0 option:checked")).to_have_text("Employee ID")  # choices stay
    assert page.evaluate(NO_SIDEWAYS_SCROLL)
    page.get_by_label("The first row is a header").uncheck()
    expect(page.locator(".column-header")).to_have_count(0)
    expect(page.get_by_text("M0001", exact=True)).to_have_count(1)

    page.set_viewport_size(DESKTOP)
    assert page.evaluate(NO_SIDEWAYS_SCROLL)
    page.get_by_role("button", name="Start the import").click()
    expect(page).to_have_url(re.compile(r"/imports/\d+$"))
    expect(page.locator("#import-status")).to_have_text("done", timeout=60_000)
    expect(page.locator("#count-added")).to_have_text("8")


def test_cancel_an_import_waiting_at_the_mapping(page, make_user, worker, tmp_path):
    page.set_viewport_size(PHONE)
    log_in(page, make_user)
    upload(page, tmp_path, wide_headerless_csv(columns=6), "nohead.csv")
    expect(page).to_have_url(re.compile(r"/imports/\d+/mapping$"))
    number = int(re.search(r"/imports/(\d+)/mapping", page.url).group(1))

    page.get_by_role("button", name="Cancel import").click()
    expect(page).to_have_url(re.compile(rf"/imports/{number}$"))
    expect(page.locator("#import-status")).to_have_text("cancelled")
    expect(page.locator("#import-outcome")).to_have_text(
        "Cancelled at the column mapping: nothing was written, and the uploaded file was deleted.")
    assert page.evaluate(NO_SIDEWAYS_SCROLL)

    row = history_row(page, number)
    expect(row.locator(".badge")).to_have_text("cancelled")
    expect(row.locator("td.stored")).to_have_text("0")
    assert page.evaluate(NO_SIDEWAYS_SCROLL)
    # The mapping page of a cancelled import is gone: it shows the import.
    page.goto(f"/imports/{number}/mapping")
    expect(page).to_have_url(re.compile(rf"/imports/{number}$"))


def test_the_mapping_says_which_column_each_field_is_for_and_its_bar_hides_nothing(page, make_user, worker,
                                                                                   tmp_path):
    """Each column's field is labelled with the file's column (a screen reader
    says which one it is choosing for); tabbing down a long file's columns on
    a phone, the focused field is never under the sticky Start/Cancel bar,
    nor is the last column at the end of the page."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["Employee ID", "Given Name", "Surname", "E-mail"] + [f"Note {c}" for c in range(5, 31)] + [""])
    writer.writerow(["M1", "Grace", "Hopper", "m1@example.com"] + [f"n{c}" for c in range(5, 31)] + ["x"])
    page.set_viewport_size(PHONE)
    log_in(page, make_user)
    upload(page, tmp_path, buffer.getvalue().encode(), "notes.csv")
    expect(page).to_have_url(re.compile(r"/imports/\d+/mapping$"))
    for select, name, value in (("#column-2", "Field for column 3 (C) “Surname”", "last_name"),
                                ("#column-29", "Field for column 30 (AD) “Note 30”", "ignore"),
                                ("#column-30", "Field for column 31 (AE) “(no name)”", "ignore")):
        expect(page.locator(select)).to_have_accessible_name(name)
        expect(page.locator(select)).to_have_value(value)
    page.get_by_label("The first row is a header").uncheck()  # re-rendered: the columns by number alone
    expect(page.get_by_label("Field for column 3 (C)", exact=True)).to_have_value("last_name")

    page.wait_for_load_state("load")
    covered = []
    page.locator("#column-0").focus()
    for n in range(1, 31):
        page.keyboard.press("Tab")
        expect(page.locator(f"#column-{n}")).to_be_focused()
        field, bar = (page.locator(selector).evaluate("e => e.getBoundingClientRect().toJSON()")
                      for selector in (f"#column-{n}", "#mapping-form .actions"))
        if field["bottom"] > bar["top"]:
            covered.append(n)
    assert covered == [], "fields under the sticky bar"
    page.evaluate("window.scrollTo(0, document.documentElement.scrollHeight)")
    last, bar = (page.locator(selector).evaluate("e => e.getBoundingClientRect().toJSON()")
                 for selector in ("table.mapping-columns tbody tr:last-child", "#mapping-form .actions"))
    assert last["bottom"] <= bar["top"], (last, bar)
