"""GET /api/v1/employees (paged by cursor) and /employees/<id> (ETag), over
real HTTP with tokens; JSON errors under /api."""
from datetime import date, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest

from ..helpers import employee
from ..web.test_edit_delete import open_edit


@pytest.fixture
def stored(login):
    """Five employees added through the form, E1..E5."""
    hr = login("hr")
    for number in range(1, 6):
        response = hr.submit("/employees/new", employee(f"E{number}", last_name=f"Name{number}",
                                                          email=f"e{number}@example.com"))
        assert response.status_code == 303
    return [f"E{number}" for number in range(1, 6)]


def test_every_role_reads_the_list_and_pages_through_it_by_cursor(stored, token_for, api):
    token = token_for("viewer")
    seen, url, pages = [], "/employees?limit=2&sort=employee_id", 0
    while url:
        response = api(url, token)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["total"] == 5
        seen += [row["employee_id"] for row in body["employees"]]
        url, pages = body["next"], pages + 1
    assert seen == stored and pages == 3
    first = api("/employees?q=name3", token).json()["employees"]
    assert [row["employee_id"] for row in first] == ["E3"] and first[0]["hire_date"] == "2024-03-01"


def test_next_link_keeps_the_filters(stored, token_for, api):
    token = token_for("hr")
    body = api("/employees?limit=1&status=active&dir=desc", token).json()
    query = parse_qs(urlsplit(body["next"]).query)
    assert query["status"] == ["active"] and query["dir"] == ["desc"] and query["limit"] == ["1"]


@pytest.mark.parametrize("query, field", [
    ("limit=0", "limit"), ("limit=1001", "limit"), ("limit=abc", "limit"), ("limit=" + "9" * 400, "limit"),
    ("cursor=not-a-cursor", "cursor"), ("cursor=" + "A" * 2000, "cursor"),
    ("cursor=W1siWiIsIloiLDk5OTk5OTk5OTk5OTk5OTk5OTk5OTk5XSxmYWxzZV0", "cursor"),  # an id beyond bigint
    ("sort=salary", "sort"), ("department=-1", "department"), ("status=gone", "status"), ("colour=red", "colour"),
    ("attention=past_last_d%D0%B0y", "attention"), ("attention=%00", "attention"),  # a Cyrillic "а"; a NUL
])
def test_hostile_parameters_are_422_per_field_never_500(token_for, api, query, field):
    response = api(f"/employees?{query}", token_for("viewer"))
    assert response.status_code == 422, (query, response.status_code, response.text[:200])
    assert field in response.json()["errors"]


def test_the_records_past_their_last_day_as_the_list_page_filters_them(token_for, api, pg):
    """Active or on leave after the termination date (stored as legacy data
    would be: the app refuses to write it): the list page's filter, for a
    program that tidies them up."""
    past = (date.today() - timedelta(days=3)).isoformat()
    for employee_id, status, last_day in (("P1", "active", past), ("P2", "on_leave", past), ("L1", "terminated", past),
                                          ("T0", "active", date.today().isoformat()), ("A1", "active", None)):
        pg.execute("INSERT INTO employees (employee_id, first_name, last_name, status, termination_date)"
                   " VALUES (%s, 'Ada', %s, %s, %s)", (employee_id, employee_id, status, last_day))
    body = api("/employees?attention=past_last_day&sort=employee_id", token_for("viewer")).json()
    assert [(row["employee_id"], row["termination_date"]) for row in body["employees"]] == [("P1", past), ("P2", past)]
    assert body["total"] == 2


def test_search_text_with_control_characters_is_not_an_error(stored, token_for, api):
    response = api("/employees?q=%00Name1%E2%80%8B", token_for("viewer"))
    assert response.status_code == 200 and [r["employee_id"] for r in response.json()["employees"]] == ["E1"]


def test_one_record_with_an_etag_that_changes_with_its_version(stored, token_for, api, login):
    token = token_for("viewer")
    response = api("/employees/e2", token)  # any case, as the form
    assert response.status_code == 200
    record = response.json()
    assert record["employee_id"] == "E2" and record["email"] == "e2@example.com"
    assert record["department"] == "Engineering" and record["url"].endswith("/api/v1/employees/E2")
    etag = response.headers["ETag"]
    assert api("/employees/E2", token, headers={"If-None-Match": etag}).status_code == 304
    hr = login("hr")
    form = open_edit(hr, "E2")
    assert hr.post("/employees/E2/edit", {**form, "last_name": "Changed"}).status_code == 303
    again = api("/employees/E2", token, headers={"If-None-Match": etag})
    assert again.status_code == 200 and again.headers["ETag"] != etag and again.json()["last_name"] == "Changed"


def test_errors_under_api_are_json(token_for, api):
    token = token_for("viewer")
    missing = api("/employees/NOPE", token)
    assert missing.status_code == 404 and missing.json()["status"] == 404
    no_route = api("/no-such-thing", token)
    assert no_route.status_code == 404 and no_route.headers["Content-Type"].startswith("application/json")
    wrong_method = api("/employees", token, method="DELETE")
    assert wrong_method.status_code == 405 and wrong_method.json()["status"] == 405
    assert "GET" in wrong_method.headers["Allow"]


def test_api_answers_503_json_while_postgresql_is_down(token_for, api, postgres_outage):
    token = token_for("viewer")
    with postgres_outage():
        response = api("/employees", token)
    assert response.status_code == 503 and response.json()["status"] == 503
    assert response.headers["Retry-After"]
