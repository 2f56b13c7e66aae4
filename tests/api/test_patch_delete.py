"""PATCH and DELETE /api/v1/employees/<id>: If-Match required (428), a
stale or foreign ETag is 412 with the current one and changes nothing; the
edit form's rules (422 per field), duplicate guard (409) and audit entry."""
import pytest

RECORD = {"employee_id": "P-1", "first_name": "Ada", "last_name": "Lovelace", "email": "ada@example.com",
          "phone": "+44 20 7946 0000", "department": "Engineering", "hire_date": "2024-01-15"}


def create(api, token, record=RECORD):
    response = api("/employees", token, method="POST", json=record)
    assert response.status_code == 201, response.text
    return response.headers["ETag"]


def patch(api, token, employee_id, body, etag=None, **kwargs):
    headers = {"If-Match": etag} if etag is not None else {}
    return api(f"/employees/{employee_id}", token, method="PATCH", json=body, headers=headers, **kwargs)


def delete(api, token, employee_id, etag=None):
    headers = {"If-Match": etag} if etag is not None else {}
    return api(f"/employees/{employee_id}", token, method="DELETE", headers=headers)


def stored(pg, employee_id="P-1"):
    return pg.execute("SELECT first_name, email, phone, version FROM employees WHERE employee_id = %s",
                      (employee_id,)).fetchone()


def test_patch_changes_the_fields_sent_keeps_the_others_and_answers_the_new_etag(token_for, api, pg):
    token = token_for("hr")
    etag = create(api, token)
    response = patch(api, token, "p-1", {"first_name": "Augusta", "phone": None}, etag)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["first_name"], body["phone"], body["last_name"], body["department"]) == \
        ("Augusta", None, "Lovelace", "Engineering")
    assert response.headers["ETag"] != etag
    assert api("/employees/P-1", token).headers["ETag"] == response.headers["ETag"]
    assert stored(pg) == ("Augusta", "ada@example.com", None, 2)
    assert pg.execute("SELECT action, source, actor_name, changes FROM audit_log ORDER BY id DESC LIMIT 1"
                      ).fetchone() == ("update", "api", "api-hr",
                                       {"first_name": ["Ada", "Augusta"], "phone": ["+44 20 7946 0000", None]})


def test_a_stale_etag_is_412_with_the_current_one_and_nothing_changes(token_for, api, pg):
    token = token_for("admin")
    old = create(api, token)
    current = patch(api, token, "P-1", {"first_name": "Augusta"}, old).headers["ETag"]
    for request in (lambda: patch(api, token, "P-1", {"first_name": "Lost"}, old),
                    lambda: delete(api, token, "P-1", old)):
        response = request()
        assert response.status_code == 412, response.text
        assert response.headers["ETag"] == current and response.json()["status"] == 412
    assert stored(pg) == ("Augusta", "ada@example.com", "+44 20 7946 0000", 2)


def test_a_record_deleted_and_added_again_does_not_match_the_old_etag(token_for, api, pg):
    token = token_for("admin")
    first = create(api, token)
    assert delete(api, token, "P-1", first).status_code == 204
    second = create(api, token)  # version 1 again, another row
    assert second != first
    response = patch(api, token, "P-1", {"first_name": "Lost"}, first)
    assert response.status_code == 412 and response.headers["ETag"] == second
    assert stored(pg)[0] == "Ada"


@pytest.mark.parametrize("if_match", [None, "", "*", '*, "1.1"'])
def test_without_a_real_etag_it_is_428_and_nothing_changes(token_for, api, pg, if_match):
    token = token_for("admin")
    create(api, token)
    for response in (patch(api, token, "P-1", {"first_name": "Nope"}, if_match), delete(api, token, "P-1", if_match)):
        assert response.status_code == 428, response.text
        assert "If-Match" in response.json()["message"]
    assert stored(pg)[0] == "Ada"


@pytest.mark.parametrize("if_match", [
    'W/"1.1"',  # a weak tag never matches a write (strong comparison)
    '"1.1\x00"', '"1.1\u200b"', '"\uff11.\uff11"', '"1.2"', '"x"', '"1.1"x', '"' + "9" * 6000 + '"',
])
def test_hostile_or_weak_if_match_is_412_never_a_500(token_for, api, pg, if_match):
    token = token_for("admin")
    assert create(api, token) == '"1.1"'
    response = patch(api, token, "P-1", {"first_name": "Nope"}, if_match.encode())  # sent as UTF-8 bytes
    # 400: gunicorn refuses a NUL in a header before the app; 431: a header over its size limit.
    assert response.status_code in (400, 412, 431), response.text
    assert response.status_code == 400 or "\x00" not in if_match
    assert stored(pg)[0] == "Ada"


def test_a_taken_email_or_id_is_409_with_a_link_and_the_guard_follows_an_id_change(token_for, api, pg, valkey):
    token = token_for("hr")
    etag = create(api, token)
    create(api, token, {**RECORD, "employee_id": "P-2", "email": "other@example.com"})
    for body, field in (({"email": "OTHER@example.com"}, "email"), ({"employee_id": "p-2"}, "employee_id")):
        response = patch(api, token, "P-1", body, etag)
        assert response.status_code == 409, response.text
        assert response.json()["existing"][field].endswith("/api/v1/employees/P-2")
    assert stored(pg) == ("Ada", "ada@example.com", "+44 20 7946 0000", 1)
    # An ID change: the old ID is free again at once, the new one taken (Valkey as the form's edit leaves it).
    renamed = patch(api, token, "P-1", {"employee_id": "P-9"}, etag)
    assert renamed.status_code == 200, renamed.text
    assert create(api, token, {**RECORD, "email": "new@example.com"})  # P-1 again
    clash = api("/employees", token, method="POST", json={**RECORD, "employee_id": "P-9", "email": "x@example.com"})
    assert clash.status_code == 409


@pytest.mark.parametrize("body, fields", [
    ({"first_name": None, "hire_date": "2024-02-30"}, {"first_name", "hire_date"}),  # null clears: required
    ({"status": "retired", "email": "not an e-mail"}, {"status", "email"}),
    ({"salary": "1"}, {"salary"}),  # no such field
    ({"first_name": 7}, {"first_name"}),  # text, not a number
    ({"first_name": "x" * 100_000}, {"first_name"}),
    ({"first_name": "\u200b\u200b"}, {"first_name"}),  # only invisible characters: empty
    ({"first_name": "A\x00da"}, {"first_name"}),
    ({"employee_id": "\ufb01" * 20}, {"employee_id"}),  # "fi" ligatures: 40 characters once normalised
])
def test_invalid_fields_are_422_one_message_each_and_nothing_changes(token_for, api, pg, body, fields):
    token = token_for("admin")
    etag = create(api, token)
    response = patch(api, token, "P-1", body, etag)
    assert response.status_code == 422, response.text
    assert fields <= set(response.json()["errors"]), response.json()
    assert stored(pg) == ("Ada", "ada@example.com", "+44 20 7946 0000", 1)


def test_roles_bodies_and_missing_records(token_for, api, pg):
    admin, hr, viewer = token_for("admin"), token_for("hr"), token_for("viewer")
    etag = create(api, admin)
    assert patch(api, viewer, "P-1", {"first_name": "V"}, etag).status_code == 403
    assert delete(api, viewer, "P-1", etag).status_code == 403
    assert delete(api, hr, "P-1", etag).status_code == 403  # as on the pages: only admins delete
    assert patch(api, None, "P-1", {"first_name": "V"}, etag).status_code == 401
    assert api("/employees/P-1", hr, method="PATCH", data=b"first_name=V",
               headers={"If-Match": etag, "Content-Type": "application/x-www-form-urlencoded"}).status_code == 415
    assert api("/employees/P-1", hr, method="PATCH", data=b'{"first_name": ',
               headers={"If-Match": etag, "Content-Type": "application/json"}).status_code == 400
    assert patch(api, hr, "P-1", [{"first_name": "V"}], etag).status_code == 422
    for missing in ("NOPE-1", "P-1%00", "%E2%80%8B"):
        assert patch(api, hr, missing, {"first_name": "V"}, etag).status_code == 404
        assert delete(api, admin, missing, etag).status_code == 404
    assert stored(pg)[0] == "Ada"


def test_delete_is_204_then_404_with_its_audit_entry(token_for, api, pg):
    token = token_for("admin")
    etag = create(api, token)
    response = delete(api, token, "p-1", etag)
    assert response.status_code == 204 and response.content == b""
    assert api("/employees/P-1", token).status_code == 404
    assert delete(api, token, "P-1", etag).status_code == 404
    assert pg.execute("SELECT action, source, actor_name, changes->'first_name' FROM audit_log ORDER BY id DESC"
                      " LIMIT 1").fetchone() == ("delete", "api", "api-admin", ["Ada", None])
    assert create(api, token)  # the ID and e-mail are free again (Valkey forgot them)
