"""The shared field rules, without servers."""
from datetime import date

import pytest

from employee_app.services.employee_rules import (
    clean_employee, normalize_department_name, normalize_email, normalize_employee_id,
)
from employee_app.services.errors import InvalidInput
from employee_app.services.pagination import Cursor, decode_cursor, encode_cursor


def test_employee_id_is_trimmed_and_upper_cased_keeping_leading_zeros():
    assert normalize_employee_id("  e0042 ") == "E0042"
    assert normalize_employee_id("0042") != normalize_employee_id("42")


def test_email_and_department_are_normalised():
    assert normalize_email("  Ada@Example.COM ") == "ada@example.com"
    assert normalize_email("   ") is None
    assert normalize_department_name("  field   ops ") == "field ops"


def test_a_minimal_record_is_clean_with_defaults():
    clean = clean_employee({"employee_id": "e1", "first_name": " Ada ", "last_name": "Lovelace"})
    assert clean["employee_id"] == "E1" and clean["first_name"] == "Ada"
    assert clean["status"] == "active" and clean["email"] is None and clean["hire_date"] is None


def test_values_are_parsed_and_choices_accept_human_spellings():
    clean = clean_employee({"employee_id": "X-1", "first_name": "Ada", "last_name": "L",
                            "hire_date": "2020-02-29", "status": "On leave", "employment_type": "Full-time"})
    assert clean["hire_date"] == date(2020, 2, 29)
    assert clean["status"] == "on_leave" and clean["employment_type"] == "full_time"


@pytest.mark.parametrize("field, value, message", [
    ("employee_id", "", "Employee ID is required."),
    ("employee_id", "E 1", "may contain only letters"),
    ("employee_id", "E1/2", "may contain only letters"),
    ("employee_id", "E" * 33, "longer than 32"),
    ("first_name", "", "First name is required."),
    ("last_name", "a\x00b", "control characters"),
    ("email", "ada@", "is not an e-mail address"),
    ("phone", "call me", "Phone may contain only"),
    ("hire_date", "31/02/2024", "is not a date"),
    ("hire_date", "2023-02-29", "is not a date"),
    ("hire_date", "1850-01-01", "out of range"),
    ("status", "retired", "Status must be one of"),
    ("employment_type", "volunteer", "Employment type must be one of"),
])
def test_each_rule_names_its_field(field, value, message):
    raw = {"employee_id": "E1", "first_name": "Ada", "last_name": "Lovelace", field: value}
    with pytest.raises(InvalidInput) as error:
        clean_employee(raw)
    assert list(error.value.errors) == [field]
    assert message in error.value.errors[field]


def test_termination_before_hire_is_refused():
    with pytest.raises(InvalidInput) as error:
        clean_employee({"employee_id": "E1", "first_name": "A", "last_name": "B", "status": "terminated",
                        "hire_date": "2020-01-01", "termination_date": "2019-12-31"})
    assert "before the hire date" in error.value.errors["termination_date"]


def test_non_latin_names_are_kept():
    clean = clean_employee({"employee_id": "E1", "first_name": "Zoë", "last_name": "渡辺"})
    assert (clean["first_name"], clean["last_name"]) == ("Zoë", "渡辺")


def test_cursors_round_trip_and_reject_tampering():
    token = encode_cursor(Cursor(["Smith", "Ada", 42], True))
    assert decode_cursor(token, 3) == Cursor(["Smith", "Ada", 42], True)
    assert decode_cursor(token, 2) is None  # another sort's width
    assert decode_cursor("not base64 !!", 3) is None
    assert decode_cursor(encode_cursor(Cursor([{"x": 1}, "a", 1], False)), 3) is None
