"""The shared field rules, without servers."""
from datetime import date

import pytest

from employee_app.services.employee_rules import (
    clean_employee, employee_id_problem, latest_date, normalize_list_name, normalize_email,
    normalize_employee_id, past_last_day,
)
from employee_app.services.errors import InvalidInput
from employee_app.services.pagination import Cursor, decode_cursor, encode_cursor


def test_employee_id_is_trimmed_and_upper_cased_keeping_leading_zeros():
    assert normalize_employee_id("  e0042 ") == "E0042"
    assert normalize_employee_id("0042") != normalize_employee_id("42")


def test_email_and_department_are_normalised():
    assert normalize_email("  Ada@Example.COM ") == "ada@example.com"
    assert normalize_email("   ") is None
    assert normalize_list_name("  field   ops ") == "field ops"


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
    ("employee_id", "E 1", "may contain only the letters A to Z, digits, '-', '_' and '.' (a space is not allowed)"),
    ("employee_id", "E1/2", "('/' is not allowed)"),
    ("employee_id", "E" * 33, "longer than 32"),
    ("first_name", "", "First name is required."),
    ("last_name", "a\x00b", "contains a control character (U+0000)"),
    ("email", "ada@", "Work e-mail ada@ is not an e-mail address."),
    ("phone", "call me", "Phone may contain only"),
    ("hire_date", "31/02/2024", "Hire date 31/02/2024 is not a date: use YYYY-MM-DD, e.g. 2024-02-29."),
    ("hire_date", "2023-02-29", "Hire date 2023-02-29 is not a date: February 2023 has 28 days."),
    ("termination_date", "2024-13-01", "Termination date 2024-13-01 is not a date: there is no month 13."),
    ("hire_date", "1850-01-01", f"Hire date 1850-01-01 is out of range: from 1900-01-01 to {latest_date()}."),
    ("hire_date", "0000-01-01", "is out of range"),
    ("status", "retired", "Status must be one of: active, on leave, terminated."),
    ("employment_type", "volunteer", "Employment type must be one of: full time, part time, "),
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


@pytest.mark.parametrize("status", ["active", "on_leave", ""])
def test_still_employed_after_the_last_day_is_refused(status):
    """The list goes by the status, the headcount by the termination date:
    a record where they disagree is refused, with what to do about it."""
    yesterday = date.fromordinal(date.today().toordinal() - 1)
    with pytest.raises(InvalidInput) as error:
        clean_employee({"employee_id": "E1", "first_name": "A", "last_name": "B", "status": status,
                        "hire_date": "2020-01-01", "termination_date": yesterday.isoformat()})
    shown_status = (status or "active").replace("_", " ")
    assert error.value.errors == {"status": f"Status is {shown_status}, but the termination date {yesterday} has "
                                            "passed: set the status to terminated, or clear the termination date."}


def test_a_last_day_today_or_later_and_a_terminated_record_with_or_without_a_date_are_clean():
    today = date.today()
    for status, last_day in (("active", today), ("on_leave", latest_date()), ("terminated", date(2021, 3, 1)),
                             ("terminated", None)):
        clean = clean_employee({"employee_id": "E1", "first_name": "A", "last_name": "B", "status": status,
                                "termination_date": last_day.isoformat() if last_day else ""})
        assert (clean["status"], clean["termination_date"]) == (status, last_day)


def test_past_the_last_day_is_the_day_after_it_for_anyone_not_terminated():
    """The rule the list's filter and the record's page share with the check above."""
    day = date(2026, 3, 31)
    assert past_last_day("active", day, today=date(2026, 4, 1))
    assert past_last_day("on_leave", day, today=date(2026, 4, 1))
    assert not past_last_day("active", day, today=day)  # the last day still counts as employed
    assert not past_last_day("active", day, today=date(2026, 3, 1))  # notice given
    assert not past_last_day("terminated", day, today=date(2026, 4, 1))
    assert not past_last_day("active", None, today=date(2026, 4, 1))


def test_non_latin_names_are_kept():
    clean = clean_employee({"employee_id": "E1", "first_name": "Zoë", "last_name": "渡辺"})
    assert (clean["first_name"], clean["last_name"]) == ("Zoë", "渡辺")


def test_cursors_round_trip_and_reject_tampering():
    token = encode_cursor(Cursor(["Smith", "Ada", 42], True))
    assert decode_cursor(token, 3) == Cursor(["Smith", "Ada", 42], True)
    assert decode_cursor(token, 2) is None  # another sort's width
    assert decode_cursor("not base64 !!", 3) is None
    assert decode_cursor(encode_cursor(Cursor([{"x": 1}, "a", 1], False)), 3) is None


# --- text as a person reads it (services/text_rules.py) ------------------------

ADA = {"employee_id": "E1", "first_name": "Ada", "last_name": "Lovelace"}


@pytest.mark.parametrize("typed", [
    "ada\u200b@example.com",  # zero-width space
    "ada\u200f@example.com",  # right-to-left mark
    "a\u00adda@example.com",  # soft hyphen
    "\ufeffada@example.com",  # byte order mark
    "ａｄａ@ｅｘａｍｐｌｅ.ｃｏｍ",  # full-width letters
    " ADA@Example.COM ",
])
def test_an_email_a_person_reads_as_ada_is_stored_as_ada(typed):
    assert clean_employee({**ADA, "email": typed})["email"] == "ada@example.com"


@pytest.mark.parametrize("typed, reason", [
    ("\u0430da@example.com", "mixes letters of different scripts (Cyrillic and Latin)"),  # Cyrillic а
    ("ad\u03b1@example.com", "mixes letters of different scripts (Greek and Latin)"),  # Greek α
    ("ada\u0307@example.com", "contains a combining mark (U+0307 COMBINING DOT ABOVE)"),
    ("ada\u2028@example.com", "contains a control character (U+2028 LINE SEPARATOR)"),
    ("ada\x85@example.com", "contains a control character (U+0085)"),
    ("\u0130" * 245 + "@ex.com", "contains U+0130 LATIN CAPITAL LETTER I WITH DOT ABOVE, which lower-cased is "
                                  "two characters (i and a combining mark): type i instead."),  # i + U+0307
])
def test_an_email_made_to_look_like_another_is_refused_with_the_reason(typed, reason):
    with pytest.raises(InvalidInput) as error:
        clean_employee({**ADA, "email": typed})
    assert reason in error.value.errors["email"]


def test_an_email_in_one_other_script_or_a_real_mix_is_kept():
    assert clean_employee({**ADA, "email": "иван@пример.рф"})["email"] == "иван@пример.рф"
    assert clean_employee({**ADA, "email": "tanaka@例え.jp"})["email"] == "tanaka@例え.jp"


def test_lengths_are_checked_on_the_stored_value():
    with pytest.raises(InvalidInput) as error:
        clean_employee({**ADA, "email": "x" * 250 + "@ex.com"})  # 257 characters
    assert "longer than 254" in error.value.errors["email"]
    # Full-width text shrinks to fit: "Ｅ" * 32 is 32 characters once plain.
    assert clean_employee({**ADA, "employee_id": "Ｅ" * 32})["employee_id"] == "E" * 32
    # A hostile 1 MB value is refused without being normalised.
    with pytest.raises(InvalidInput) as error:
        clean_employee({**ADA, "last_name": "\u200b" * 1_000_000})
    assert error.value.errors["last_name"] == "Last name is longer than 100 characters."


@pytest.mark.parametrize("typed, what", [
    ("ß1", "U+00DF LATIN SMALL LETTER SHARP S"),
    ("ſ9", "U+017F LATIN SMALL LETTER LONG S"),
    ("ß" * 20, "U+00DF"),  # would grow to 40 characters if upper-cased
    ("E\u04251", "U+0425 CYRILLIC CAPITAL LETTER HA"),
    ("İ1", "U+0130"),
])
def test_an_id_that_upper_casing_would_change_is_refused_not_converted(typed, what):
    with pytest.raises(InvalidInput) as error:
        clean_employee({**ADA, "employee_id": typed})
    assert what in error.value.errors["employee_id"]
    assert error.value.errors["employee_id"].startswith("Employee ID may contain only the letters A to Z")


def test_an_id_typed_full_width_or_with_invisible_characters_is_the_plain_id():
    assert clean_employee({**ADA, "employee_id": "ｅ１０４２"})["employee_id"] == "E1042"
    assert clean_employee({**ADA, "employee_id": "E10\u200b42"})["employee_id"] == "E1042"
    assert normalize_employee_id("ｅ１０４２") == "E1042"


@pytest.mark.parametrize("name, what", [
    ("Ada\u202eecalevol", "U+202E RIGHT-TO-LEFT OVERRIDE"),
    ("A\u200bda", "U+200B ZERO WIDTH SPACE"),
    ("Ada\u2028Lovelace", "U+2028 LINE SEPARATOR"),
    ("Ada\x9b", "U+009B"),
    ("Ada\ufffd", "U+FFFD"),
])
def test_names_refuse_invisible_and_direction_characters(name, what):
    with pytest.raises(InvalidInput) as error:
        clean_employee({**ADA, "first_name": name})
    assert what in error.value.errors["first_name"]


def test_names_keep_any_script_in_nfc_and_the_joiners_persian_needs():
    clean = clean_employee({**ADA, "first_name": "Zoe\u0308", "last_name": "مهدی\u200cزاده"})
    assert clean["first_name"] == "Zoë" and len(clean["first_name"]) == 3
    assert clean["last_name"] == "مهدی\u200cزاده"


@pytest.mark.parametrize("typed, message", [
    ("２０２４-０１-０１", "Hire date ２０２４-０１-０１ is not a date: type it with the digits 0 to 9 as "
                         "YYYY-MM-DD"),
    ("2024-01-01\x00", "Hire date contains a control character (U+0000)."),
    ("2024-01-01" * 1024, "Hire date is longer than 64 characters."),  # 10 KB, refused before normalising
    ("\U0001d160" * 40, "Hire date is longer than 64 characters once normalised."),  # NFC makes each 3
    ("2024-1-1", "Hire date 2024-1-1 is not a date: use YYYY-MM-DD"),
])
def test_a_date_that_cannot_be_read_is_refused_with_the_reason(typed, message):
    with pytest.raises(InvalidInput) as error:
        clean_employee({**ADA, "hire_date": typed})
    assert error.value.errors["hire_date"].startswith(message)


def test_the_latest_date_is_accepted_and_the_day_after_is_not():
    latest = latest_date()
    assert clean_employee({**ADA, "hire_date": latest.isoformat()})["hire_date"] == latest
    with pytest.raises(InvalidInput):
        clean_employee({**ADA, "hire_date": date.fromordinal(latest.toordinal() + 1).isoformat()})


@pytest.mark.parametrize("typed, problem", [
    ("E10019!", "E10019! is not a valid ID: it may contain only the letters A to Z, digits, '-', '_' and '.' "
                "('!' is not allowed)."),
    ("-e1", "-E1 is not a valid ID: it must start with a letter or a digit."),
    ("e" * 33, "E" * 33 + " is not a valid ID: it is longer than 32 characters."),
    ("ß1", "ß1 is not a valid ID: it may contain only"),  # shown as typed, never "SS1"
    ("e1042", None),
    ("ｅ１０４２", None),
])
def test_the_as_you_type_check_says_why_an_id_cannot_be_stored(typed, problem):
    found = employee_id_problem(typed)
    assert found == problem if problem is None else found.startswith(problem)


@pytest.mark.parametrize("field", ["department", "job_title"])
@pytest.mark.parametrize("typed, stored", [
    ("\uff33\uff21\uff2c\uff25\uff33", "SALES"),  # full-width letters, as an IME types them
    ("Sales\u3000Ops", "Sales Ops"),  # an ideographic space
    ("Sales Продажи", "Sales Продажи"),  # two languages, word by word
    ("営業部", "営業部"), ("बिक्री", "बिक्री"), ("Relações Públicas", "Relações Públicas"),
])
def test_a_list_name_is_stored_as_a_person_reads_it(field, typed, stored):
    record = {"employee_id": "E1", "first_name": "Ada", "last_name": "Lovelace", field: typed}
    assert clean_employee(record)[field] == stored


@pytest.mark.parametrize("field, label, limit", [("department", "Department", 100), ("job_title", "Job title", 120)])
@pytest.mark.parametrize("typed, says", [
    ("S\u0430les", "mixes letters of different scripts (Cyrillic and Latin), so it could pass for another one."),
    ("Sales \u0415ngineering", "mixes letters of different scripts (Cyrillic and Latin)"),  # Cyrillic Е
    ("\ufdfa" * 10, "is longer than"),  # one character, 18 once normalised: grows past the limit
])
def test_a_look_alike_or_growing_list_name_is_refused_at_its_field(field, label, limit, typed, says):
    record = {"employee_id": "E1", "first_name": "Ada", "last_name": "Lovelace", field: typed}
    with pytest.raises(InvalidInput) as refused:
        clean_employee(record)
    assert says in refused.value.errors[field]
    if says == "is longer than":
        assert refused.value.errors[field] == f"{label} is longer than {limit} characters once normalised."
