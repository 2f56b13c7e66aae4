"""Every error under /api is JSON, {"status": ..., "message": ...}, with the
status a program can act on: 404, 405 (Allow), 413, 500, 503 (Retry-After),
and a redirect too. (429: test_rate_limits.py.)"""
import pytest


def assert_json_problem(answer, status: int) -> dict:
    assert answer.status_code == status, answer.text[:300]
    assert answer.headers["Content-Type"] == "application/json"
    body = answer.json()
    assert body["status"] == status and body["message"]
    return body


@pytest.mark.parametrize("path", ["/api", "/api/", "/api/v2/employees", "/api/v1", "/api/v1/", "/api/v1/nope",
                                  "/API/v1/employees", "/api/v1/employees/", "/api/v1/openapi.json/",
                                  "/api/v1/%00", "/api/v1/employees/E1/%E2%80%8B", "/api/v1/" + "x" * 3000])
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_an_unknown_address_under_api_is_a_json_404(live_server, api, token_for, path, method):
    answer = api(live_server + path, token_for("hr"), method=method, json={})
    assert_json_problem(answer, 404)


@pytest.mark.parametrize("employee_id", ["E404", "e%00", "%E2%80%8BE1", "Ｅ１", "x" * 3000])
def test_an_unknown_record_is_a_json_404(api, token_for, employee_id):
    body = assert_json_problem(api(f"/employees/{employee_id}", token_for("viewer")), 404)
    assert "There is no employee" in body["message"]


def test_a_request_line_over_gunicorns_limit_is_refused_by_gunicorn_not_the_app(api, token_for):
    """The one answer under /api that is not JSON: gunicorn refuses a request
    line over 4,094 bytes itself (a short HTML page), before any app code runs;
    the status is what a program acts on (docs/api.md)."""
    answer = api("/employees/" + "x" * 5000, token_for("viewer"))
    assert answer.status_code == 414


def test_a_method_the_address_does_not_take_is_a_json_405_with_allow(api, token_for):
    answer = api("/openapi.json", token_for("admin"), method="PUT", json={})
    assert_json_problem(answer, 405)
    assert set(answer.headers["Allow"].replace(" ", "").split(",")) >= {"GET", "HEAD", "OPTIONS"}


def test_a_body_over_the_limit_is_a_json_413(api, token_for):
    answer = api("/employees", token_for("hr"), method="POST", data=b"{" + b" " * (3 * 1024 * 1024) + b"}",
                 headers={"Content-Type": "application/json"})
    assert "larger than the API's limit" in assert_json_problem(answer, 413)["message"]


@pytest.mark.parametrize("method, path", [("POST", "/employees"), ("POST", "/employees/batch"),
                                          ("PATCH", "/employees/E1")])
@pytest.mark.parametrize("depth", [990, 100_000])
def test_json_nested_past_pythons_limit_is_a_400_not_a_500(api, token_for, method, path, depth):
    body = b'{"employee_id": ' + b"[" * depth + b"]" * depth + b"}"
    answer = api(path, token_for("admin"), method=method, data=body,
                 headers={"Content-Type": "application/json", "If-Match": '"1"'})
    assert assert_json_problem(answer, 400)["message"] == "The body is not valid JSON."


@pytest.mark.parametrize("files", [
    {"wrong": ("staff.csv", b"employee_id,first_name,last_name\nE1,Ada,Lovelace\n")},
    {"file": ("staff.csv", b"employee_id,first_name,last_name\nE1,Ada,Lovelace\n"), "extra": ("x.csv", b"x")},
])
def test_an_upload_with_its_file_under_another_name_is_a_422_not_a_500(api, token_for, files):
    answer = api("/imports", token_for("hr"), method="POST", files=files)
    body = assert_json_problem(answer, 422)
    assert body["errors"], body


def test_a_doubled_slash_is_redirected_in_json(live_server, api, token_for):
    answer = api(live_server + "/api//v1/employees", token_for("viewer"))
    body = assert_json_problem(answer, 308)
    assert body["location"] == answer.headers["Location"] == live_server + "/api/v1/employees"


def test_an_unexpected_failure_is_a_json_500_that_tells_nothing_of_the_inside(api, token_for, pg):
    """A real fault in the running server, not a mock: the table the view
    reads is renamed under it, so its SELECT fails (a programming error, not
    a transient one: no retry, no 503)."""
    token = token_for("viewer")
    pg.execute("ALTER TABLE employees RENAME TO employees_elsewhere")
    try:
        answer = api("/employees/E1", token)
    finally:
        pg.execute("ALTER TABLE employees_elsewhere RENAME TO employees")
    body = assert_json_problem(answer, 500)
    assert body == {"status": 500, "message": "Something went wrong on our side. The error has been logged."}
    assert api("/employees/E1", token).status_code == 404  # and the next request is served as usual


def test_with_postgresql_stopped_the_api_answers_a_json_503_and_counts_on(api, token_for, postgres_outage):
    token = token_for("viewer")
    assert api("/employees", token).status_code == 200
    with postgres_outage():
        answer = api("/employees", token)
        body = assert_json_problem(answer, 503)
        assert "database is unavailable" in body["message"]
        assert int(answer.headers["Retry-After"]) > 0
    # Back: served, and the token's count went on in Valkey (the outage was
    # not taken for the limiter's own storage failing).
    again = api("/employees", token)
    assert again.status_code == 200
    assert int(again.headers["X-RateLimit-Remaining"]) < int(again.headers["X-RateLimit-Limit"]) - 1
