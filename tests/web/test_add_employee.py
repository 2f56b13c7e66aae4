"""Adding employees through the form, over real HTTP, with the duplicate guard."""
import re
import threading
from html import unescape

import pytest

from employee_app.services.duplicate_guard import EMAILS_KEY, IDS_KEY, READY_KEY
from employee_app.services.employee_rules import latest_date

from ..helpers import HttpClient, csrf_token, employee


def count_rows(pg, where: str = "true", params=()) -> int:
    return pg.execute(f"SELECT count(*) FROM employees WHERE {where}", params).fetchone()[0]


def field_message(html: str, name: str) -> str:
    """The error shown at a field, as text (its links' text included)."""
    match = re.search(rf'<small id="{name}-error" class="field-error">(.*?)</small>', html, re.S)
    assert match, f"no message at {name}"
    return unescape(re.sub(r"<[^>]+>", "", match.group(1)))


def test_add_redirects_to_the_record_stored_in_postgres_and_valkey(login, pg, valkey):
    hr = login("hr")
    response = hr.submit("/employees/new", employee(" e1042 ", first_name="Grace", last_name="Hopper",
                                                   email="Grace.Hopper@Example.com", department="Research"))
    assert response.status_code == 303
    assert response.headers["Location"] == "/employees/E1042"

    page = hr.get("/employees/E1042")
    assert page.status_code == 200
    assert "Grace Hopper" in page.text and "grace.hopper@example.com" in page.text and "Research" in page.text
    assert 'added. <a href="/employees/new">Add another employee</a>' in page.text  # in the flash
    assert "Add another" not in hr.get("/employees/E1042").text  # said once, after adding

    row = pg.execute("SELECT employee_id, email, status FROM employees").fetchall()
    assert row == [("E1042", "grace.hopper@example.com", "active")]
    assert valkey.sismember(IDS_KEY, "E1042")
    assert valkey.sismember(EMAILS_KEY, "grace.hopper@example.com")


def test_a_new_department_typed_on_the_form_is_created_once(login, pg):
    hr = login("hr")
    assert hr.submit("/employees/new", employee("A1", department="Field Ops")).status_code == 303
    assert hr.submit("/employees/new", employee("A2", department="  field   ops ")).status_code == 303
    assert pg.execute("SELECT name FROM departments").fetchall() == [("Field Ops",)]
    assert count_rows(pg, "department_id IS NOT NULL") == 2


def test_duplicate_id_in_other_case_and_spaces_is_refused_with_409(login, pg):
    hr = login("hr")
    assert hr.submit("/employees/new", employee("E1042", first_name="Grace", last_name="Hopper")).status_code == 303
    for typed in ("E1042", "  e1042  ", "e1042"):
        response = hr.submit("/employees/new", employee(typed, first_name="Someone", last_name="Else",
                                                        email="else@example.com"))
        assert response.status_code == 409
        # Said once, at the field, with a link to the existing record.
        assert field_message(response.text, "employee_id") == \
            "Employee ID E1042 already exists (Grace Hopper). Open E1042"
        assert re.search(r'id="employee_id-error"[^>]*>[^<]*<a href="/employees/E1042">', response.text)
        assert response.text.count("already exists") == 1 and "already taken" not in response.text
        # The as-you-type check waits for a change: at load it would say it again.
        assert not re.search(r'hx-trigger="[^"]*load', response.text)
        assert 'value="Someone"' in response.text and 'value="else@example.com"' in response.text  # input kept
    assert count_rows(pg) == 1
    assert pg.execute("SELECT count(*) FROM employees WHERE email = 'else@example.com'").fetchone()[0] == 0


def test_the_add_form_sent_twice_adds_once_and_the_second_says_added_not_taken(login, pg):
    """A double click on Add (or the form sent again): the first send adds,
    the second finds the ID and e-mail taken by that very record. It says
    added, not "not added: already exists". The same values from another
    page load, by anyone, or this form with other values, are a real
    duplicate (409)."""
    hr = login("hr")
    form = employee("E7", first_name="Grace", last_name="Hopper", email="grace@example.com", department="Navy")
    page = hr.get("/employees/new").text
    token = re.search(r'name="form_token"[^>]*value="([0-9a-f]{32})"', page).group(1)
    sent = {"csrf_token": csrf_token(page), "form_token": token, **form}
    first, second = hr.post("/employees/new", sent), hr.post("/employees/new", sent)
    assert first.status_code == second.status_code == 303 and second.headers["Location"] == "/employees/E7"
    assert "Employee E7 (Grace Hopper) is added: this form was sent twice, and the first time added it." in \
        unescape(hr.get("/employees/E7").text)
    assert count_rows(pg) == 1
    assert pg.execute("SELECT subject, count(*) FROM audit_log WHERE action = 'create' GROUP BY 1 ORDER BY 1"
                      ).fetchall() == [("department", 1), ("employee", 1), ("job", 1)]

    assert hr.submit("/employees/new", form).status_code == 409  # a new page load: someone adding it again
    assert login("hr", "other-hr").submit("/employees/new", form).status_code == 409
    assert hr.post("/employees/new", dict(sent, location="Arlington")).status_code == 409  # not what it added
    for hostile in ("", "x" * 5000, token.upper(), token + "\x00", "../" + token):
        assert hr.post("/employees/new", dict(sent, form_token=hostile)).status_code == 409, hostile
    assert count_rows(pg) == 1


def test_leading_zeros_make_a_different_id(login, pg):
    hr = login("hr")
    assert hr.submit("/employees/new", employee("0042")).status_code == 303
    assert hr.submit("/employees/new", employee("42")).status_code == 303
    assert count_rows(pg) == 2


def test_duplicate_email_in_other_case_is_refused_with_409(login, pg):
    hr = login("hr")
    assert hr.submit("/employees/new", employee("E1", email="ada@example.com")).status_code == 303
    response = hr.submit("/employees/new", employee("E2", email="  ADA@Example.COM "))
    assert response.status_code == 409
    assert field_message(response.text, "email") == \
        "Work e-mail ada@example.com already exists (employee E1, Ada Lovelace). Open E1"
    assert re.search(r'id="email-error"[^>]*>[^<]*<a href="/employees/E1">', response.text)
    assert response.text.count("already exists") == 1
    # The ID is free: the page checks it once at load and says so.
    assert re.search(r'hx-trigger="[^"]*load', response.text)
    assert count_rows(pg) == 1


def test_employees_without_email_do_not_clash(login, pg):
    hr = login("hr")
    assert hr.submit("/employees/new", employee("P1", email="")).status_code == 303
    assert hr.submit("/employees/new", employee("P2", email="")).status_code == 303
    assert count_rows(pg, "email IS NULL") == 2


def test_invalid_input_comes_back_422_with_a_message_at_each_field_naming_its_label(login, pg):
    hr = login("hr")
    response = hr.submit("/employees/new", employee("bad id!", first_name="", last_name="",
                                                    email="not-an-email", hire_date="2024-02-31",
                                                    status="retired", employment_type="volunteer"))
    assert response.status_code == 422
    assert {name: field_message(response.text, name) for name in
            ("employee_id", "first_name", "last_name", "email", "hire_date", "status")} == {
        "employee_id": "Employee ID may contain only the letters A to Z, digits, '-', '_' and '.' "
                       "(a space is not allowed).",
        "first_name": "First name is required.",
        "last_name": "Last name is required.",
        "email": "Work e-mail not-an-email is not an e-mail address.",
        "hire_date": "Hire date 2024-02-31 is not a date: February 2024 has 29 days.",
        "status": "Status must be one of: active, on leave, terminated.",
    }
    messages = unescape(" ".join(re.findall(r'class="field-error">(.*?)</small>', response.text, re.S)))
    assert "_" not in messages.replace("'_'", "")  # labels and words, never field keys or stored values
    assert 'aria-invalid="true"' in response.text
    assert "The employee was not added" in response.text
    assert count_rows(pg) == 0


def test_an_active_employee_whose_last_day_has_passed_is_refused_at_the_status(login, pg):
    """The list would show them as active while the headcount has them gone."""
    hr = login("hr")
    response = hr.submit("/employees/new", employee("E1", hire_date="2020-01-01", status="active",
                                                    termination_date="2023-01-01"))
    assert response.status_code == 422
    assert field_message(response.text, "status") == (
        "Status is active, but the termination date 2023-01-01 has passed: set the status to terminated, "
        "or clear the termination date.")
    assert count_rows(pg) == 0
    assert hr.submit("/employees/new", employee("E1", hire_date="2020-01-01", status="terminated",
                                                termination_date="2023-01-01")).status_code == 303


def test_the_date_fields_are_text_in_the_format_their_help_gives(login):
    page = login("hr").get("/employees/new").text
    for name in ("hire_date", "termination_date"):
        tag = re.search(rf'<input[^>]*\bname="{name}"[^>]*>', page).group(0)
        assert 'type="text"' in tag and 'placeholder="YYYY-MM-DD"' in tag
        assert re.search(rf'id="{name}-help" class="help">YYYY-MM-DD, e.g. 2024-02-29<', page)
    assert "active if empty" not in page  # the status select has no empty choice


@pytest.mark.parametrize("typed, message", [
    ("02/31/2024", "Hire date 02/31/2024 is not a date: use YYYY-MM-DD, e.g. 2024-02-29."),
    ("31.01.2024", "Hire date 31.01.2024 is not a date: use YYYY-MM-DD, e.g. 2024-02-29."),
    ("2024-02-30", "Hire date 2024-02-30 is not a date: February 2024 has 29 days."),
    ("1850-01-01", f"Hire date 1850-01-01 is out of range: from 1900-01-01 to {latest_date()}."),
])
def test_a_typed_date_that_is_not_a_date_is_refused_at_the_field_and_kept(typed, message, login, pg):
    response = login("hr").submit("/employees/new", employee("E1", hire_date=typed))
    assert response.status_code == 422
    assert field_message(response.text, "hire_date") == message
    assert f'value="{typed}"' in response.text  # what was typed stays in the field, to be corrected
    assert count_rows(pg) == 0


@pytest.mark.parametrize("typed, message", [
    ("2024-01-01\x00", "Termination date contains a control character (U+0000)."),
    ("2024-01-01" * 1024, "Termination date is longer than 64 characters."),  # 10 KB
    ("２０２４-０１-０１", "Termination date ２０２４-０１-０１ is not a date: type it with the digits 0 to 9 as "
                         "YYYY-MM-DD, e.g. 2024-02-29."),
    ("\U0001d160" * 40, "Termination date is longer than 64 characters once normalised."),  # grows under NFC
    ("\u202e2024-01-01", "Termination date contains an invisible or direction-changing character (U+202E"),
])
def test_hostile_dates_are_a_clear_422_never_a_500(typed, message, login, pg):
    response = login("hr").submit("/employees/new", employee("E1", termination_date=typed))
    assert response.status_code == 422
    assert field_message(response.text, "termination_date").startswith(message)
    assert count_rows(pg) == 0


def test_the_as_you_type_check_says_why_an_id_cannot_be_stored(login):
    hr = login("hr")
    answer = hr.get("/employees/check-id", params={"employee_id": "E10019!"})
    assert answer.status_code == 200
    assert unescape(answer.text).strip().endswith(
        "E10019! is not a valid ID: it may contain only the letters A to Z, digits, '-', '_' and '.' "
        "('!' is not allowed).</span>")
    assert 'data-state="invalid"' in answer.text
    assert "must start with a letter or a digit" in hr.get("/employees/check-id", params={"employee_id": ".e1"}).text
    assert "E1042 is available" in hr.get("/employees/check-id", params={"employee_id": "ｅ１０４２"}).text
    for hostile in ("E1\x00", "E" * 3000, "ß" * 20, "\U0001d160" * 20, "E1\u202e"):
        answer = hr.get("/employees/check-id", params={"employee_id": hostile})
        assert answer.status_code == 200, hostile
        assert 'data-state="invalid"' in answer.text or "is available" in answer.text, hostile


def test_an_invalid_form_also_says_at_once_that_its_id_and_email_are_taken(login, pg):
    hr = login("hr")
    assert hr.submit("/employees/new", employee("E7", email="grace@example.com")).status_code == 303
    response = hr.submit("/employees/new", employee(" e7 ", email="GRACE@example.com", last_name=""))
    assert response.status_code == 422
    assert "Last name is required" in response.text
    assert "already exists" in response.text and "E7" in response.text
    assert response.text.count("already exists") == 2  # the ID and the e-mail, each at its field
    assert count_rows(pg) == 1


def test_flushed_valkey_still_refuses_the_duplicate_and_is_repaired(login, pg, valkey):
    hr = login("hr")
    assert hr.submit("/employees/new", employee("E7", email="seven@example.com")).status_code == 303
    valkey.flushall()

    response = hr.submit("/employees/new", employee("e7"))
    assert response.status_code == 409
    assert count_rows(pg) == 1
    assert valkey.sismember(IDS_KEY, "E7")  # repaired on the miss
    wait_for(lambda: valkey.exists(READY_KEY) and valkey.sismember(EMAILS_KEY, "seven@example.com"))


def test_stale_valkey_entry_does_not_block_a_free_id(login, pg, valkey):
    valkey.sadd(IDS_KEY, "GHOST1")  # e.g. left behind by a crash
    hr = login("hr")
    assert hr.get("/employees/check-id", params={"employee_id": "ghost1"}).text.count("available") == 1
    assert hr.submit("/employees/new", employee("ghost1")).status_code == 303
    assert count_rows(pg) == 1


def test_with_valkey_stopped_adding_and_refusing_work_and_health_degrades(login, pg, valkey_server, live_server):
    hr = login("hr")
    assert hr.submit("/employees/new", employee("E1")).status_code == 303
    valkey_server.stop()
    try:
        health = hr.get("/readyz")
        assert health.status_code == 200 and health.json()["status"] == "degraded"
        assert hr.submit("/employees/new", employee("E2")).status_code == 303
        assert hr.submit("/employees/new", employee("e2")).status_code == 409
        assert hr.submit("/employees/new", employee("E1")).status_code == 409
        check = hr.get("/employees/check-id", params={"employee_id": "e2"})
        assert check.status_code == 200 and "already taken" in check.text
    finally:
        valkey_server.start()
    assert count_rows(pg) == 2
    wait_for(lambda: hr.get("/readyz").json()["status"] == "ok")
    # E2 was added while Valkey was down: the app notices and rebuilds the index.
    assert hr.submit("/employees/new", employee("E3")).status_code == 303
    import valkey as valkey_lib
    client = valkey_lib.Valkey.from_url(valkey_server.url, decode_responses=True)
    wait_for(lambda: client.sismember(IDS_KEY, "E2") and client.exists(READY_KEY))


def test_30_concurrent_adds_of_one_id_store_exactly_one(live_server, make_user, pg):
    make_user("racer", "hr")
    clients, tokens = [], []
    for _ in range(30):
        client = HttpClient(live_server)
        client.login("racer", "correct horse battery staple")
        tokens.append(csrf_token(client.get("/employees/new").text))
        client.session.close()  # each POST opens its own fresh connection
        clients.append(client)
    barrier = threading.Barrier(30)
    statuses: list[int] = []

    def post(client, token):
        barrier.wait()
        response = client.post("/employees/new", {"csrf_token": token, **employee("RACE-1")})
        statuses.append(response.status_code)

    threads = [threading.Thread(target=post, args=pair) for pair in zip(clients, tokens)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [303] + [409] * 29
    assert count_rows(pg, "employee_id = 'RACE-1'") == 1


def test_missing_csrf_token_is_400_and_writes_nothing(login, pg):
    hr = login("hr")
    response = hr.post("/employees/new", employee("E1"))
    assert response.status_code == 400
    assert "Reload the page" in response.text
    assert count_rows(pg) == 0


def test_anonymous_visitors_are_sent_to_login(live_server):
    anonymous = HttpClient(live_server)
    for path in ("/employees", "/employees/new", "/employees/E1", "/employees/check-id?employee_id=E1", "/"):
        response = anonymous.get(path)
        assert response.status_code == 302, path
        assert response.headers["Location"].startswith("/login?next="), path


def test_a_viewer_can_read_but_not_add(login, pg):
    viewer = login("viewer")
    assert viewer.get("/employees").status_code == 200
    assert "Add employee" not in viewer.get("/employees").text
    assert viewer.get("/employees/new").status_code == 403
    token = csrf_token(viewer.get("/employees").text)  # the logout form's token
    assert viewer.post("/employees/new", {"csrf_token": token, **employee("E1")}).status_code == 403
    assert count_rows(pg) == 0


def wait_for(condition, timeout: float = 10.0) -> None:
    import time
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)
