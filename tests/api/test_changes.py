"""GET /api/v1/changes: every create, edit and delete in commit order with
old and new values; a consumer following `next` never misses a change, not
even one whose transaction commits late; imported records appear as
creates with the values they were created with."""
import base64
import json

import psycopg
import pytest

from employee_app.services.importer import pipeline
from tests.helpers import employee

RECORD = {"employee_id": "C-1", "first_name": "Ada", "last_name": "Lovelace", "email": "ada@example.com"}


def feed(api, token, after=None, limit=None):
    params = {key: value for key, value in (("after", after), ("limit", limit)) if value is not None}
    response = api("/changes", token, params=params)
    assert response.status_code == 200, response.text
    return response.json()


def follow(api, token, url):
    response = api(url, token)
    assert response.status_code == 200, response.text
    return response.json()


def read_all(api, token, url=None, limit=1000):
    """What a consumer reads by following `next` (from `url`, or from the
    beginning) until a page is empty: (the changes, the `next` to poll later)."""
    changes = []
    while True:
        page = follow(api, token, url) if url else feed(api, token, limit=limit)
        changes += page["changes"]
        url = page["next"]
        if not page["changes"]:
            return changes, url


def summary(changes):
    return [(c["action"], c["employee_id"], c["source"], c["changes"]) for c in changes]


def test_creates_edits_and_deletes_in_order_with_old_and_new_values(token_for, api, login):
    token = token_for("admin")
    login("hr", "hana").submit("/employees/new", employee("F-1", email="f1@example.com", department="",
                                                          job_title="", employment_type="", location=""))
    created = api("/employees", token, method="POST", json=RECORD)
    etag = api("/employees/C-1", token, method="PATCH", json={"first_name": "Augusta", "email": None},
               headers={"If-Match": created.headers["ETag"]}).headers["ETag"]
    assert api("/employees/C-1", token, method="DELETE", headers={"If-Match": etag}).status_code == 204

    changes, _ = read_all(api, token)
    assert summary(changes) == [
        ("create", "F-1", "form", {"employee_id": [None, "F-1"], "first_name": [None, "Ada"],
                                   "last_name": [None, "Lovelace"], "email": [None, "f1@example.com"],
                                   "hire_date": [None, "2024-03-01"], "status": [None, "active"]}),
        ("create", "C-1", "api", {"employee_id": [None, "C-1"], "first_name": [None, "Ada"],
                                  "last_name": [None, "Lovelace"], "email": [None, "ada@example.com"],
                                  "status": [None, "active"]}),
        ("update", "C-1", "api", {"first_name": ["Ada", "Augusta"], "email": ["ada@example.com", None]}),
        ("delete", "C-1", "api", {"employee_id": ["C-1", None], "first_name": ["Augusta", None],
                                  "last_name": ["Lovelace", None], "status": ["active", None]}),
    ]
    assert [c["actor"] for c in changes] == ["hana", "api-admin", "api-admin", "api-admin"]
    assert len({c["record"] for c in changes[1:]}) == 1 and changes[0]["record"] != changes[1]["record"]
    assert all(c["entry"] and c["at"] for c in changes)


def test_paging_by_next_and_by_cursor_gives_each_change_once_and_an_empty_page_keeps_its_place(token_for, api):
    token = token_for("hr")
    for number in range(5):
        api("/employees", token, method="POST", json={**RECORD, "employee_id": f"C-{number}", "email": None})
    everything = feed(api, token)["changes"]
    pages, url = [], None
    while True:
        page = follow(api, token, url) if url else feed(api, token, limit=2)
        assert len(page["changes"]) <= 2 and "limit=2" in page["next"]
        pages.append(page["changes"])
        url = page["next"]
        if not page["changes"]:
            break
    assert [len(p) for p in pages] == [2, 2, 1, 0]
    assert [c["employee_id"] for p in pages for c in p] == [f"C-{n}" for n in range(5)]
    # A change's own cursor reads on from it.
    assert [c["employee_id"] for c in feed(api, token, after=everything[2]["cursor"])["changes"]] == ["C-3", "C-4"]
    # Nothing new: the same position again, which gives the next change once there is one.
    assert follow(api, token, url)["next"] == url
    api("/employees", token, method="POST", json={**RECORD, "employee_id": "C-9", "email": None})
    assert [c["employee_id"] for c in follow(api, token, url)["changes"]] == ["C-9"]


def test_account_changes_are_not_in_the_feed(token_for, api, login, pg):
    """The History records who changed which account; the feed carries
    employees' changes only, and a waiting position still gives the next one."""
    token = token_for("admin")
    api("/employees", token, method="POST", json={**RECORD, "employee_id": "C-1", "email": None})
    url = read_all(api, token)[1]
    admin = login("admin", "ann")
    made = admin.submit("/admin/users/new", {"username": "fern", "role": "hr", "password": "grey horse battery",
                                             "confirm": "grey horse battery"})
    assert made.status_code == 303
    assert admin.submit("/account/tokens", {"name": "sync"}).status_code == 201
    assert pg.execute("SELECT count(*) FROM audit_log WHERE subject = 'account'").fetchone()[0] == 2
    assert follow(api, token, url)["changes"] == []
    api("/employees", token, method="POST", json={**RECORD, "employee_id": "C-2", "email": None})
    assert [c["employee_id"] for c in follow(api, token, url)["changes"]] == ["C-2"]
    assert [c["employee_id"] for c in read_all(api, token)[0]] == ["C-1", "C-2"]


def test_a_transaction_that_commits_late_is_not_missed(token_for, api, pg, database_url):
    """The first transaction writes its audit entry (taking the lower id)
    and stays open while a later one commits and a consumer reads past it.
    Read by id, the first entry would land behind the consumer's cursor."""
    token = token_for("admin")
    with psycopg.connect(database_url) as early:
        pk = early.execute("INSERT INTO employees (employee_id, first_name, last_name) VALUES ('L-1', 'Late', 'One')"
                           " RETURNING id").fetchone()[0]
        early.execute("INSERT INTO audit_log (employee_pk, employee_id, action, source, changes)"
                      " VALUES (%s, 'L-1', 'create', 'cli', %s)",
                      (pk, json.dumps({"employee_id": [None, "L-1"]})))
        assert api("/employees", token, method="POST", json=RECORD).status_code == 201  # commits first

        first, url = read_all(api, token)
        assert [c["employee_id"] for c in first] == ["C-1"]
        early_entry = pg.execute("SELECT id FROM audit_log WHERE employee_id = 'L-1'").fetchone()
        assert early_entry is None  # not visible yet: uncommitted
        early.commit()

    late, _ = read_all(api, token, url)
    assert [c["employee_id"] for c in late] == ["L-1"]
    # Its id is the lower one: the feed is in commit order, not id order.
    assert late[0]["entry"] < first[0]["entry"]
    # And a consumer starting over reads both once, in the same order.
    again, _ = read_all(api, token)
    assert [c["employee_id"] for c in again] == ["C-1", "L-1"]


def _import(app, tmp_path, rows: list[str], username: str, mode: str = "valid_rows"):
    path = tmp_path / "people.csv"
    path.write_text("employee_id,first_name,last_name,email\n" + "\n".join(rows) + "\n", encoding="utf-8")
    result = app.test_cli_runner().invoke(args=["import-csv", str(path), "--user", username, "--mode", mode])
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("mode, creates", [("all_or_nothing", 5), ("dry_run", 0)])
def test_an_import_in_one_transaction_gives_its_records_once_and_a_dry_run_none(token_for, api, app, tmp_path,
                                                                               monkeypatch, mode, creates):
    token = token_for("admin")
    monkeypatch.setattr(pipeline, "BATCH_ROWS", 2)  # three batches in one transaction
    _import(app, tmp_path, [f"T-{n},First{n},Last{n},t{n}@example.com" for n in range(1, 6)], "api-admin", mode)
    changes, _ = read_all(api, token, limit=3)
    assert [(c["action"], c["employee_id"]) for c in changes] == [("create", f"T-{n}") for n in range(1, 1 + creates)]


def test_imported_records_are_creates_with_their_first_values_batch_by_batch(token_for, api, app, tmp_path,
                                                                             monkeypatch):
    token = token_for("admin")
    monkeypatch.setattr(pipeline, "BATCH_ROWS", 2)  # 5 rows: three batches, three commits
    rows = [f"I-{n},First{n},Last{n},i{n}@example.com" for n in range(1, 6)] + ["I-1,Again,Dup,dup@example.com"]
    _import(app, tmp_path, rows, "api-admin")
    # After the import: one record edited, one deleted (and so gone from employees).
    etag = api("/employees/I-2", token).headers["ETag"]
    assert api("/employees/I-2", token, method="PATCH", json={"first_name": "Changed", "employee_id": "I-20"},
               headers={"If-Match": etag}).status_code == 200
    etag = api("/employees/I-4", token).headers["ETag"]
    assert api("/employees/I-4", token, method="DELETE", headers={"If-Match": etag}).status_code == 204

    changes, _ = read_all(api, token, limit=2)  # pages that end inside an import batch
    assert summary(changes) == [
        *[("create", f"I-{n}", "import", {"employee_id": [None, f"I-{n}"], "first_name": [None, f"First{n}"],
                                          "last_name": [None, f"Last{n}"], "email": [None, f"i{n}@example.com"],
                                          "status": [None, "active"]}) for n in range(1, 6)],
        ("update", "I-20", "api", {"employee_id": ["I-2", "I-20"], "first_name": ["First2", "Changed"]}),
        ("delete", "I-4", "api", {"employee_id": ["I-4", None], "first_name": ["First4", None],
                                  "last_name": ["Last4", None], "email": ["i4@example.com", None],
                                  "status": ["active", None]}),
    ]
    creates = changes[:5]
    assert [c["import_row"] for c in creates] == [2, 3, 4, 5, 6]  # the file's lines, as its report counts them
    assert {c["import_id"] for c in creates} == {1} and {c["actor"] for c in creates} == {"api-admin"}
    assert creates[1]["record"] == changes[5]["record"] and creates[3]["record"] == changes[6]["record"]
    assert all(c["entry"] is None for c in creates)


def test_viewers_may_not_read_the_feed(token_for, api):
    assert api("/changes", token_for("viewer")).status_code == 403
    assert api("/changes").status_code == 401


def position(value) -> str:
    """A token shaped like the feed's (base64url JSON), with any content."""
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


@pytest.mark.parametrize("params, field", [
    ({"after": "garbage!"}, "after"),
    ({"after": position([1, 2, 3])}, "after"),  # base64 JSON, but not the feed's shape
    ({"after": position([[1, 2], False])}, "after"),
    ({"after": position([[1, 2, -3], False])}, "after"),  # a negative row
    ({"after": position([[1, 2, 3], True])}, "after"),  # backwards
    ({"after": position([[1, True, 3], False])}, "after"),
    ({"after": position([["1", 2, 3], False])}, "after"),
    ({"after": position([[1.5, 2, 3], False])}, "after"),
    ({"after": position([[2**63 - 1, 2, 3], False])}, "after"),
    ({"after": position([[10**30, 2, 3], False])}, "after"),  # beyond bigint
    ({"after": position([[1, 2, 3], False]) + "\x00"}, "after"),
    ({"after": position([[1, 2, 3], False])[:-2] + "\u200b" + position([[1, 2, 3], False])[-2:]}, "after"),
    ({"after": "\uff37" * 50}, "after"),  # full-width letters
    ({"after": "[" * 150}, "after"),
    ({"after": "A" * 3_000}, "after"),  # (gunicorn refuses a request line over 4 KB itself)
    ({"limit": "0"}, "limit"), ({"limit": "1001"}, "limit"), ({"limit": "1e3"}, "limit"),
    ({"limit": "-1"}, "limit"), ({"limit": "99999999999999999999999"}, "limit"), ({"limit": "\x00"}, "limit"),
    ({"cursor": "x"}, "cursor"),  # not this endpoint's parameter
])
def test_hostile_positions_and_parameters_are_422(token_for, api, params, field):
    response = api("/changes", token_for("hr"), params=params)
    assert response.status_code == 422, response.text
    assert field in response.json()["errors"], response.json()


def test_a_consumer_polling_during_concurrent_writers_gets_every_change_exactly_once(token_for, api, database_url):
    """Four writers commit entries in transactions held open for random
    moments (so ids and commits interleave) while a consumer follows `next`
    the whole time: it ends with every entry once, each writer's in order."""
    import random
    import threading
    import time

    token = token_for("hr")
    per_writer, writers = 40, 4

    def write(number: int) -> None:
        rng = random.Random(number)
        with psycopg.connect(database_url) as conn:
            for n in range(per_writer):
                employee_id = f"W{number}-{n}"
                conn.execute("INSERT INTO audit_log (employee_pk, employee_id, action, source, changes)"
                             " VALUES (%s, %s, 'create', 'cli', '{}')", (number * 1000 + n, employee_id))
                time.sleep(rng.random() * 0.02)
                conn.commit()

    threads = [threading.Thread(target=write, args=(number,)) for number in range(writers)]
    for thread in threads:
        thread.start()
    seen, url = [], None
    while any(thread.is_alive() for thread in threads):
        page = follow(api, token, url) if url else feed(api, token, limit=7)
        seen += [c["employee_id"] for c in page["changes"]]
        url = page["next"]
    for thread in threads:
        thread.join()
    rest, _ = read_all(api, token, url)
    seen += [c["employee_id"] for c in rest]
    assert len(seen) == len(set(seen)) == per_writer * writers
    for number in range(writers):
        assert [e for e in seen if e.startswith(f"W{number}-")] == [f"W{number}-{n}" for n in range(per_writer)]


def test_an_entry_of_an_odd_shape_is_given_as_text_never_a_500(token_for, api, pg):
    """Entries written by hand or by old code: values that are not text, a
    value that is not a pair."""
    pg.execute("INSERT INTO audit_log (employee_pk, employee_id, action, source, changes)"
               " VALUES (1, 'O-1', 'update', 'cli', %s)",
               (json.dumps({"phone": [1, 2, 3], "status": "active", "location": [{"a": 1}, None]}),))
    changes = feed(api, token_for("admin"))["changes"]
    assert changes[0]["changes"] == {"phone": ["1", "2"], "status": [None, "active"],
                                     "location": ['{"a": 1}', None]}
