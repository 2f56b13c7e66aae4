"""HR staff at the employee forms, on a desktop and on a phone: a date that
cannot be read is refused at its field, a duplicate is said once where it is,
the ID check says what is wrong with an ID, help never covers an input, and
HR correct a record."""
import re

import pytest
from playwright.sync_api import expect

from .test_edit_conflict_in_browser import log_in

pytestmark = pytest.mark.browser

SCREENS = {"desktop": {"width": 1280, "height": 900}, "phone": {"width": 390, "height": 844}}


@pytest.fixture(params=SCREENS)
def screen(request, page):
    """The page at a desktop's and at a phone's width."""
    page.set_viewport_size(SCREENS[request.param])
    return page


@pytest.fixture
def hana(make_user):
    return make_user("hana", "hr")


def stored_ids(app) -> list[str]:
    from employee_app.extensions import db
    from employee_app.models import Employee

    with app.app_context():
        return list(db.session.execute(db.select(Employee.employee_id).order_by(Employee.employee_id)).scalars())


def add_grace(app) -> None:
    from employee_app.services import employees

    with app.app_context():
        employees.create_employee({"employee_id": "E77", "first_name": "Grace", "last_name": "Hopper",
                                   "email": "grace@example.com", "job_title": "Analyst"})


def test_a_typed_impossible_date_is_refused_at_its_field_and_nothing_is_saved(screen, hana, app):
    page = screen
    log_in(page, hana, "/employees/new")
    date = page.get_by_label("Hire date")
    expect(date).to_have_attribute("placeholder", "YYYY-MM-DD")
    expect(page.locator("#hire_date-help")).to_have_text("YYYY-MM-DD, e.g. 2024-02-29")
    page.get_by_label("Employee ID").fill("E1")
    page.get_by_label("First name").fill("Ada")
    page.get_by_label("Last name").fill("Lovelace")
    date.press_sequentially("02/31/2024")
    page.get_by_role("button", name="Add employee").click()

    expect(page.locator("#hire_date-error")).to_have_text(
        "Hire date 02/31/2024 is not a date: use YYYY-MM-DD, e.g. 2024-02-29.")
    expect(page.get_by_label("Hire date")).to_have_value("02/31/2024")  # kept, to be corrected
    expect(page.get_by_label("Hire date")).to_have_attribute("aria-invalid", "true")
    assert stored_ids(app) == []

    page.get_by_label("Hire date").fill("2024-02-29")
    page.get_by_role("button", name="Add employee").click()
    expect(page).to_have_url(re.compile(r"/employees/E1$"))
    expect(page.locator("dl.record")).to_contain_text("2024-02-29")
    assert stored_ids(app) == ["E1"]


def test_after_a_refused_form_the_keyboard_is_on_the_first_field_with_a_problem(screen, hana):
    """Not at the top of the page: Tab-and-type users and screen readers
    start at the first thing to fix (here the e-mail: the ID is fine)."""
    page = screen
    log_in(page, hana, "/employees/new")
    page.get_by_label("Employee ID").fill("E1")
    page.get_by_label("First name").fill("Ada")
    page.get_by_label("Last name").fill("Lovelace")
    page.get_by_label("Work e-mail").fill("not-an-address")
    page.get_by_label("Hire date").fill("2024-02-30")
    page.get_by_role("button", name="Add employee").click()
    expect(page.locator("#email-error")).to_be_visible()
    expect(page.get_by_label("Work e-mail")).to_be_focused()
    page.keyboard.press("Control+A")
    page.keyboard.type("ada@example.com")
    page.get_by_role("button", name="Add employee").click()
    expect(page.get_by_label("Hire date")).to_be_focused()  # the next one left


def test_help_and_messages_sit_under_their_input_never_on_it(screen, hana):
    page = screen
    log_in(page, hana, "/employees/new")
    page.get_by_role("button", name="Add employee").click()  # empty: messages at the required fields
    expect(page.locator("#first_name-error")).to_be_visible()
    for name in ("employee_id", "email", "department", "hire_date", "first_name"):
        field = page.locator(f"#{name}").bounding_box()
        below = page.locator(f"#{name}-help, #{name}-error").first.bounding_box()
        assert below["y"] >= field["y"] + field["height"], name


def test_a_duplicate_is_said_once_at_its_field_with_a_link(screen, hana, app):
    add_grace(app)
    page = screen
    log_in(page, hana, "/employees/new")
    page.get_by_label("Employee ID").press_sequentially("e77", delay=30)
    expect(page.locator("#employee_id-check")).to_contain_text("E77 is already taken by Grace Hopper")
    page.get_by_label("First name").fill("Kay")
    page.get_by_label("Last name").fill("Jay")
    page.get_by_role("button", name="Add employee").click()

    message = page.locator("#employee_id-error")
    expect(message).to_contain_text("Employee ID E77 already exists (Grace Hopper).")
    page.wait_for_load_state("networkidle")  # any as-you-type answer would have arrived by now
    expect(page.get_by_text("already exists")).to_have_count(1)
    expect(page.get_by_text("already taken")).to_have_count(0)
    message.get_by_role("link", name="Open E77").click()
    expect(page).to_have_url(re.compile(r"/employees/E77$"))
    assert stored_ids(app) == ["E77"]


def test_the_id_check_says_what_is_wrong_with_a_malformed_id_and_the_next_answer_replaces_it(page, hana):
    log_in(page, hana, "/employees/new")
    field, check = page.get_by_label("Employee ID"), page.locator("#employee_id-check")
    field.press_sequentially("E10019!", delay=20)
    expect(check).to_have_text("E10019! is not a valid ID: it may contain only the letters A to Z, digits, "
                               "'-', '_' and '.' ('!' is not allowed).")
    page.get_by_role("button", name="Add employee").click()
    expect(page.locator("#employee_id-error")).to_contain_text("('!' is not allowed)")
    page.get_by_label("Employee ID").press("End")
    page.get_by_label("Employee ID").press("Backspace")  # the server's message gives way to the new answer
    expect(check).to_have_text("E10019 is available.")
    expect(page.locator("#employee_id-error")).to_have_count(0)


def test_hr_correct_a_record_and_see_it_in_its_history(screen, hana, app):
    add_grace(app)
    page = screen
    log_in(page, hana, "/employees/E77")
    expect(page.get_by_role("link", name="Delete")).to_have_count(0)  # deleting stays with admins
    page.get_by_role("link", name="Edit", exact=True).click()
    expect(page.get_by_role("heading", name="Edit E77")).to_be_visible()
    page.get_by_label("Job title").fill("Rear Admiral")
    page.get_by_label("Hire date").fill("1943-07-02")
    page.get_by_role("button", name="Save changes").click()

    expect(page).to_have_url(re.compile(r"/employees/E77$"))
    expect(page.get_by_text("Employee E77 (Grace Hopper) saved: Job title, Hire date changed.")).to_be_visible()
    entry = page.locator("#history tbody tr").first
    expect(entry).to_contain_text("hana")
    expect(entry).to_contain_text("Edited")
    expect(entry.locator('li[data-field="job_title"]')).to_contain_text("Analyst → Rear Admiral")
    expect(entry.locator('li[data-field="hire_date"]')).to_contain_text("1943-07-02")
