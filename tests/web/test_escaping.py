"""Names with markup, quotes and non-Latin letters are shown escaped and
intact on every page that shows them.

To cover a new page, add a line to PAGES: a path (with {employee_id}, {q} or
{user_id} when it is about one record) and what it must show.
"""
import re

import pytest
from markupsafe import escape

from ..helpers import PASSWORD, HttpClient, csrf_token, employee

PAYLOAD = "<script>alert(1)</script>"
# employee_id -> the name, department and job title it is stored with
EMPLOYEES = {
    "X1": {"first_name": PAYLOAD, "last_name": "O'Brien \"Bob\"", "department": "R&D <Ops> \"Ω\"",
           "job_title": "<b>boss</b> & 'co'"},
    "X2": {"first_name": "Łukasz", "last_name": "Żółć", "department": "Księgowość",
           "job_title": "Główny księgowy"},
    "X3": {"first_name": "山田", "last_name": "太郎", "department": "営業部", "job_title": "課長"},
}
ACTOR = "łukasz.żółć"  # usernames may use letters of any script

# (path, what it shows). Per-record paths are visited once per employee and
# must show that employee's values; the others must show every employee's.
# Shown: "name" (first and last), "department", "job_title", "actor" (the
# username of whoever added the records), "username" (the account's).
PAGES = [
    ("/employees", {"name", "department", "job_title"}),
    ("/employees?q={q}", {"name", "department"}),
    ("/employees/{employee_id}", {"name", "department", "job_title", "actor"}),
    ("/employees/check-id?employee_id={employee_id}", {"name"}),
    ("/employees/{employee_id}/edit", {"name", "department", "job_title"}),
    ("/admin/audit", {"name", "actor"}),
    ("/admin/users", {"username"}),
    ("/admin/users/{user_id}", {"username"}),
]


def assert_escaped_and_intact(html: str, expected: list[str], where: str) -> None:
    for tag in re.findall(r"<script\b[^>]*>", html, flags=re.IGNORECASE):
        assert re.search(r'\ssrc="/static/', tag), f"{where}: a script tag that is not a file: {tag}"
    assert PAYLOAD not in html, f"{where}: the payload is in the page unescaped"
    for value in expected:
        assert str(escape(value)) in html, f"{where}: {value!r} is not shown, escaped and intact"


@pytest.fixture
def records(live_server, login, pg):
    admin = login("admin")
    created = admin.submit("/admin/users/new", {"username": ACTOR.upper(), "role": "admin",
                                                "password": PASSWORD, "confirm": PASSWORD})
    assert created.status_code == 303
    actor = HttpClient(live_server)
    actor.login("Łukasz.Żółć", PASSWORD)  # any case, as with Latin usernames
    for employee_id, values in EMPLOYEES.items():
        assert actor.submit("/employees/new", employee(employee_id, **values)).status_code == 303
    user_id = pg.execute("SELECT id FROM users WHERE username = %s", (ACTOR,)).fetchone()[0]
    return admin, user_id


def test_names_are_shown_escaped_and_intact_everywhere(records):
    admin, user_id = records
    checked = 0
    for path, shows in PAGES:
        per_record = "{employee_id}" in path or "{q}" in path
        for employee_id, values in (EMPLOYEES.items() if per_record else [(None, None)]):
            rows = [values] if per_record else list(EMPLOYEES.values())
            expected = []
            for row in rows:
                if "name" in shows:
                    expected += [row["first_name"], row["last_name"]]
                expected += [row[field] for field in ("department", "job_title") if field in shows]
            expected += [ACTOR] if shows & {"actor", "username"} else []
            url = path.format(employee_id=employee_id, user_id=user_id,
                              q=values["last_name"] if values else "")
            response = admin.get(url)
            assert response.status_code == 200, f"{url}: {response.status_code}"
            assert_escaped_and_intact(response.text, expected, url)
            checked += 1
    assert checked >= 15


def test_what_was_typed_comes_back_escaped(records):
    admin, _ = records
    refused = admin.submit("/admin/users/new", {"username": PAYLOAD, "role": "viewer",
                                                "password": PASSWORD, "confirm": PASSWORD})
    assert refused.status_code == 422
    assert_escaped_and_intact(refused.text, [PAYLOAD], "/admin/users/new")
    search = admin.get("/employees", params={"q": PAYLOAD})
    assert_escaped_and_intact(search.text, [PAYLOAD, "O'Brien \"Bob\""], "search for the payload")
    duplicate = admin.submit("/employees/new", employee("x1", first_name="Łukasz", last_name="Żółć"))
    assert duplicate.status_code == 409  # the message names the holder, escaped
    assert_escaped_and_intact(duplicate.text, [PAYLOAD, "O'Brien \"Bob\""], "the duplicate message")
    assert csrf_token(duplicate.text)
