"""A department or job the API adds (a new record, a PATCH, a batch naming a
new one) is in the History once (source api, the token's owner); a refused
request, or an atomic batch that stores nothing, leaves neither the entry
nor a History entry."""
from ..web.test_new_entries_history import created_entries
from .test_batch import post_batch, record
from .test_create_employee import RECORD, post
from .test_patch_delete import patch


def test_a_new_record_and_a_patch_record_the_entries_they_add(token_for, api, pg):
    token = token_for("hr")
    created = post(api, token, RECORD)
    assert created.status_code == 201, created.text
    assert created_entries(pg) == [
        ("department", "Engineering", "api", "api-hr", None, {"name": [None, "Engineering"]}),
        ("job", "Admiral", "api", "api-hr", None, {"name": [None, "Admiral"]})]
    changed = patch(api, token, "A-100", {"department": "Navy", "job_title": "admiral"}, created.headers["ETag"])
    assert changed.status_code == 200, changed.text
    assert created_entries(pg)[2:] == [
        ("department", "Navy", "api", "api-hr", None, {"name": [None, "Navy"]})]
    # Refused (a duplicate ID, a bad date): nothing is added, nothing recorded.
    assert post(api, token, {**RECORD, "department": "Ghost"}).status_code == 409
    assert post(api, token, {**RECORD, "employee_id": "B-1", "email": "", "department": "Ghost",
                             "hire_date": "2024-02-30"}).status_code == 422
    assert len(created_entries(pg)) == 3
    assert pg.execute("SELECT count(*) FROM departments WHERE name = 'Ghost'").fetchone()[0] == 0


def test_a_batch_records_each_new_entry_once_and_an_atomic_refusal_none(token_for, api, pg):
    token = token_for("admin")
    items = [record(n, department="Operations" if n % 2 else " Operations  ", job_title="Clerk") for n in range(1, 6)]
    items.append(record(9, department="Only Refused", hire_date="2024-02-30"))  # invalid: adds nothing
    response = post_batch(api, token, items)
    assert response.status_code == 200, response.text
    assert response.json()["counts"] == {"created": 5, "duplicate": 0, "invalid": 1}
    assert created_entries(pg) == [
        ("department", "Operations", "api", "api-admin", None, {"name": [None, "Operations"]}),
        ("job", "Clerk", "api", "api-admin", None, {"name": [None, "Clerk"]})]
    # Atomic and refused (a duplicate): rolled back, its new department too.
    refused = post_batch(api, token, [record(20, department="Rolled Back"), record(1)], atomic=True)
    assert refused.status_code in (200, 409, 422), refused.text
    assert refused.json()["stored"] is False
    assert len(created_entries(pg)) == 2
    assert pg.execute("SELECT count(*) FROM departments WHERE name = 'Rolled Back'").fetchone()[0] == 0


def test_a_hostile_department_is_422_at_its_field_and_records_nothing(token_for, api, pg):
    token = token_for("hr")
    for name in ("Sales\x00", "Sa\u200bles", "Sales\u202e", "S" * 40_000):
        response = post(api, token, {**RECORD, "department": name})
        assert response.status_code == 422, (name[:10], response.status_code)
        assert set(response.json()["errors"]) == {"department"}
        batch = post_batch(api, token, [record(1, department=name)])
        assert batch.json()["results"][0]["status"] == "invalid"
    assert created_entries(pg) == []
    assert pg.execute("SELECT count(*) FROM departments").fetchone()[0] == 0
