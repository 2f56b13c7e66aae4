"""POST /api/v1/employees: the add form's rules, duplicate guard and audit
entry, answered in JSON: 201 + Location, 409 with the field and a link, 422
per field."""
import pytest

from employee_app.api.schemas import NewEmployee
from employee_app.services.employee_rules import FIELD_NAMES

RECORD = {"employee_id": "a-100", "first_name": "Grace", "last_name": "Hopper", "email": "Grace@Example.com",
          "department": "Engineering", "job_title": "Admiral", "hire_date": "2024-01-15"}


def post(api, token, body, **kwargs):
    return api("/employees", token, method="POST", json=body, **kwargs)


def test_the_request_model_has_exactly_the_rule_fields():
    """One rule set: the JSON's fields are employee_rules' fields, no more, no fewer."""
    assert set(NewEmployee.model_fields) == set(FIELD_NAMES)


def test_hr_adds_a_record_201_with_location_etag_and_its_audit_entry(token_for, api, pg):
    token = token_for("hr")
    response = post(api, token, RECORD)
    assert response.status_code == 201, response.text
    body = response.json()
    # Stored the way the form stores: canonical ID and e-mail, status defaulted.
    assert body["employee_id"] == "A-100" and body["email"] == "grace@example.com" and body["status"] == "active"
    assert response.headers["Location"].endswith("/api/v1/employees/A-100")
    again = api(response.headers["Location"], token)
    assert again.status_code == 200 and again.headers["ETag"] == response.headers["ETag"]
    assert pg.execute("SELECT action, source, actor_name FROM audit_log WHERE subject = 'employee'").fetchall() \
        == [("create", "api", "api-hr")]


def test_a_duplicate_is_409_with_the_field_and_a_link_and_nothing_stored(token_for, api, pg):
    token = token_for("admin")
    assert post(api, token, RECORD).status_code == 201
    for clash, field in (({**RECORD, "email": "other@example.com", "employee_id": " A-100 "}, "employee_id"),
                         ({**RECORD, "employee_id": "B-1", "email": "GRACE@example.com"}, "email")):
        response = post(api, token, clash)
        assert response.status_code == 409, response.text
        body = response.json()
        assert field in body["errors"] and body["existing"][field].endswith("/api/v1/employees/A-100")
    assert pg.execute("SELECT count(*) FROM employees").fetchone()[0] == 1


@pytest.mark.parametrize("body, fields", [
    ({}, {"employee_id", "first_name", "last_name"}),
    ({**RECORD, "hire_date": "2024-02-30", "status": "retired"}, {"hire_date", "status"}),
    ({**RECORD, "employee_id": 12345}, {"employee_id"}),  # the JSON's shape: text, not a number
    ({**RECORD, "salary": "1"}, {"salary"}),  # no such field
    ({**RECORD, "first_name": "x" * 5000}, {"first_name"}),
    ([RECORD], {"request"}),  # one record, not a list
])
def test_invalid_records_are_422_with_one_message_per_field(token_for, api, pg, body, fields):
    response = post(api, token_for("hr"), body)
    assert response.status_code == 422, response.text
    assert fields <= set(response.json()["errors"]), response.json()
    assert pg.execute("SELECT count(*) FROM employees").fetchone()[0] == 0


def test_viewers_may_not_add_and_bodies_that_are_not_json_are_refused(token_for, api):
    assert post(api, token_for("viewer"), RECORD).status_code == 403
    token = token_for("hr")
    not_json = api("/employees", token, method="POST", data=b"employee_id=E1",
                   headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert not_json.status_code == 415 and not_json.json()["status"] == 415
    broken = api("/employees", token, method="POST", data=b'{"employee_id": ',
                 headers={"Content-Type": "application/json"})
    assert broken.status_code == 400 and broken.json()["status"] == 400
    huge = api("/employees", token, method="POST", data=b'{"first_name": "' + b"x" * (3 * 1024 * 1024) + b'"}',
               headers={"Content-Type": "application/json"})
    assert huge.status_code == 413 and huge.json()["status"] == 413
