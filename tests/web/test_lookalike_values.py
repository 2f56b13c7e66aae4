"""One person per e-mail and ID as a person reads them, through the forms,
over real HTTP: look-alikes are the same record (409) or refused (422),
values that grow when normalised are refused at their field, never a 500."""
import pytest

from ..helpers import csrf_token, employee
from .test_edit_delete import open_edit

ADA = "ada@example.com"
# Each is read by a person as ada@example.com.
SAME_ADDRESS = [
    "ada\u200b@example.com",  # zero-width space
    "ada\u200f@example.com",  # right-to-left mark
    "a\u00adda@example.com",  # soft hyphen
    "ａｄａ@example.com",  # full-width letters
]
LOOKALIKES = [
    ("\u0430da@example.com", "mixes letters of different scripts (Cyrillic and Latin)"),  # Cyrillic а
    ("ad\u0430@example.com", "mixes letters of different scripts (Cyrillic and Latin)"),
    ("ada\u0307@example.com", "contains a combining mark (U+0307 COMBINING DOT ABOVE)"),
]


def stored_emails(pg) -> list[str]:
    return [row[0] for row in pg.execute("SELECT email FROM employees ORDER BY id")]


def test_seven_ways_of_writing_ada_store_one_person(login, pg):
    hr = login("hr")
    assert hr.submit("/employees/new", employee("E1", email=ADA)).status_code == 303
    for number, typed in enumerate(SAME_ADDRESS, start=2):
        response = hr.submit("/employees/new", employee(f"E{number}", email=typed))
        assert response.status_code == 409, typed
        assert f"Work e-mail {ADA} already exists (employee E1, Ada Lovelace)" in response.text
    for number, (typed, reason) in enumerate(LOOKALIKES, start=10):
        response = hr.submit("/employees/new", employee(f"E{number}", email=typed))
        assert response.status_code == 422, typed
        assert reason in response.text
    assert stored_emails(pg) == [ADA]


def test_a_look_alike_id_is_the_same_id_or_refused(login, pg):
    hr = login("hr")
    assert hr.submit("/employees/new", employee("E1042")).status_code == 303
    assert hr.submit("/employees/new", employee("Ｅ１０４２")).status_code == 409  # full-width
    assert hr.submit("/employees/new", employee("E10\u200b42")).status_code == 409  # zero-width space
    refused = hr.submit("/employees/new", employee("\u04151042"))  # Cyrillic Е
    assert refused.status_code == 422
    assert "U+0415 CYRILLIC CAPITAL LETTER IE is not allowed" in refused.text
    assert pg.execute("SELECT count(*) FROM employees").fetchone()[0] == 1


@pytest.mark.parametrize("field, value, message", [
    ("employee_id", "ß" * 20, "U+00DF LATIN SMALL LETTER SHARP S is not allowed"),
    ("employee_id", "ſ9", "U+017F LATIN SMALL LETTER LONG S is not allowed"),
    ("email", "\u0130" * 245 + "@ex.com", "contains U+0130 LATIN CAPITAL LETTER I WITH DOT ABOVE"),
    ("email", "x" * 250 + "@ex.com", "is longer than 254 characters"),
    ("first_name", "Ada\u202eecalevoL", "U+202E RIGHT-TO-LEFT OVERRIDE"),
    ("last_name", "Love\u2028lace", "U+2028 LINE SEPARATOR"),
    ("job_title", "Ana\x85lyst", "U+0085"),
    # U+FB2C is three characters in NFC: 40 of them are 120.
    ("last_name", "\ufb2c" * 40, "longer than 100 characters once normalised"),
])
def test_hostile_values_are_refused_at_their_field_on_add_and_edit(login, pg, field, value, message):
    admin = login("admin")
    response = admin.submit("/employees/new", {**employee("E1"), field: value})
    assert response.status_code == 422, response.status_code
    assert message in response.text
    assert admin.submit("/employees/new", employee("E1")).status_code == 303
    data = open_edit(admin, "E1")
    data[field] = value
    edited = admin.post("/employees/E1/edit", data)
    assert edited.status_code == 422, edited.status_code
    assert message in edited.text
    assert pg.execute("SELECT count(*) FROM employees").fetchone()[0] == 1


def test_an_account_name_cannot_pass_for_another(login, pg):
    admin = login("admin", "admin")
    page = admin.get("/admin/users/new")
    for typed, status, message in (("\u0430dmin", 422, "mixes letters of different scripts"),
                                   ("ad\u200bmin", 422, "already exists"),
                                   ("ＡＤＭＩＮ", 422, "already exists")):
        response = admin.post("/admin/users/new", {"csrf_token": csrf_token(page.text), "username": typed,
                                                   "password": "a long enough password", "confirm": "a long enough password",
                                                   "role": "viewer"})
        assert response.status_code == status, typed
        assert message in response.text, typed
    assert [row[0] for row in pg.execute("SELECT username FROM users")] == ["admin"]
