"""POST /api/v1/employees/batch over real HTTP: every item ends created,
duplicate (of a stored record, of an earlier item, of a concurrent batch) or
invalid, in order; atomic=true stores all or nothing; sizes are bounded."""
import threading

import psycopg
import pytest


def record(n: int, **changes) -> dict:
    return {"employee_id": f"E{n}", "first_name": "Ada", "last_name": f"Lovelace{n}",
            "email": f"ada{n}@example.com", "department": "Engineering", "job_title": "Analyst",
            "hire_date": "2024-01-15", **changes}


def post_batch(api, token, items, *, atomic=None, **kwargs):
    path = "/employees/batch" + ("" if atomic is None else f"?atomic={str(atomic).lower()}")
    return api(path, token, method="POST", json={"employees": items}, **kwargs)


def stored_count(pg) -> int:
    return pg.execute("SELECT count(*) FROM employees").fetchone()[0]


def test_mixed_batch_200_every_item_in_order_with_counts_and_one_audit_entry_each(token_for, api, pg):
    token = token_for("hr")
    assert api("/employees", token, method="POST", json=record(1)).status_code == 201  # already stored
    items = [
        record(2),                                     # 0 created
        record(1, email="other@example.com"),          # 1 duplicate of the stored E1
        record(2, email="again@example.com"),          # 2 duplicate of item 0's ID
        record(3, hire_date="2024-02-30"),             # 3 invalid
        record(4, email="ADA2@example.com"),           # 4 duplicate of item 0's e-mail
        {**record(5), "salary": "1"},                  # 5 invalid: no such field
        {**record(6), "first_name": 7},                # 6 invalid: a number, not text
        record(7, employee_id=" e7 "),                 # 7 created, as the form stores it
    ]
    response = post_batch(api, token, items)
    assert response.status_code == 200, response.text
    body = response.json()
    statuses = [result["status"] for result in body["results"]]
    assert statuses == ["created", "duplicate", "duplicate", "invalid", "duplicate", "invalid", "invalid", "created"]
    assert [result["index"] for result in body["results"]] == list(range(len(items)))
    assert body["counts"] == {"created": 2, "duplicate": 3, "invalid": 3} and body["stored"] is True
    results = body["results"]
    assert results[0]["url"].endswith("/api/v1/employees/E2") and results[7]["employee_id"] == "E7"
    assert results[1]["existing"]["employee_id"].endswith("/api/v1/employees/E1") and "E1" in \
        results[1]["errors"]["employee_id"]
    assert results[2]["earlier"] == {"employee_id": 0} and results[2]["employee_id"] == "E2"
    assert results[4]["earlier"] == {"email": 0} and results[4]["employee_id"] == "E4"
    assert set(results[3]["errors"]) == {"hire_date"}
    assert "salary" in results[5]["errors"] and "first_name" in results[6]["errors"]
    # Each created record is stored once, with its own audit entry by the token's owner.
    assert stored_count(pg) == 3
    assert pg.execute("SELECT employee_id, action, source, actor_name FROM audit_log WHERE employee_id <> 'E1'"
                      " ORDER BY employee_id").fetchall() == [("E2", "create", "api", "api-hr"),
                                                             ("E7", "create", "api", "api-hr")]
    changes = pg.execute("SELECT changes FROM audit_log WHERE employee_id = 'E2'").fetchone()[0]
    assert changes["email"] == [None, "ada2@example.com"] and changes["department"] == [None, "Engineering"]
    # The records are what a GET shows, with the list entries the import would make.
    again = api(results[0]["url"], token).json()
    assert again["department"] == "Engineering" and again["job_title"] == "Analyst"


def test_a_batch_of_only_refused_items_is_200_and_stores_nothing(token_for, api, pg):
    response = post_batch(api, token_for("admin"), [record(1, hire_date="x"), record(2, email="not an e-mail")])
    assert response.status_code == 200
    assert response.json()["stored"] is False and response.json()["counts"]["invalid"] == 2
    assert stored_count(pg) == 0


def test_atomic_201_when_every_item_is_created(token_for, api, pg):
    response = post_batch(api, token_for("hr"), [record(1), record(2)], atomic=True)
    assert response.status_code == 201, response.text
    assert response.json()["counts"]["created"] == 2 and stored_count(pg) == 2


@pytest.mark.parametrize("bad, status", [(record(1, email="x@example.com"), 409),    # duplicate of item 0
                                         (record(9, hire_date="2024-13-01"), 422)])  # invalid
def test_atomic_refusal_stores_nothing_and_marks_the_good_items_valid(token_for, api, pg, bad, status):
    response = post_batch(api, token_for("hr"), [record(1), record(2), bad], atomic=True)
    assert response.status_code == status, response.text
    body = response.json()
    assert body["stored"] is False and body["status"] == status and body["message"]
    assert [r["status"] for r in body["results"]][:2] == ["valid", "valid"]
    assert body["counts"]["created"] == 0
    assert stored_count(pg) == 0
    assert pg.execute("SELECT count(*) FROM audit_log").fetchone()[0] == 0


def test_atomic_duplicate_of_a_stored_record_is_409(token_for, api, pg):
    token = token_for("hr")
    assert post_batch(api, token, [record(1)]).status_code == 200
    response = post_batch(api, token, [record(2), record(1)], atomic=True)
    assert response.status_code == 409
    assert response.json()["results"][1]["existing"]["employee_id"].endswith("/employees/E1")
    assert stored_count(pg) == 1


def test_two_concurrent_overlapping_batches_each_item_created_exactly_once(token_for, api, pg):
    """Two clients post overlapping batches at the same moment: PostgreSQL's
    constraints decide; each shared item is created in one answer and a
    duplicate in the other, and nothing is stored twice."""
    token = token_for("hr")
    shared = [record(n) for n in range(100, 400)]
    first = shared + [record(n) for n in range(1000, 1100)]
    second = list(reversed(shared)) + [record(n) for n in range(2000, 2100)]
    answers = {}
    start = threading.Barrier(2)

    def send(name, items):
        start.wait()
        answers[name] = post_batch(api, token, items)
    threads = [threading.Thread(target=send, args=(name, items)) for name, items in (("a", first), ("b", second))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert answers["a"].status_code == answers["b"].status_code == 200, (answers["a"].text[:300], answers["b"].text[:300])
    outcome = {}
    for name in "ab":
        for result in answers[name].json()["results"]:
            outcome.setdefault(result["employee_id"], []).append(result["status"])
    for item in shared:
        assert sorted(outcome[item["employee_id"]]) == ["created", "duplicate"], outcome[item["employee_id"]]
    created = sum(answer.json()["counts"]["created"] for answer in answers.values())
    assert created == 500 == stored_count(pg)
    assert pg.execute("SELECT count(*) FROM audit_log WHERE subject = 'employee'").fetchone()[0] == 500
    # ... and the department and job both batches named, each added (and recorded) once.
    assert pg.execute("SELECT subject, count(*) FROM audit_log WHERE subject <> 'employee' GROUP BY 1 ORDER BY 1"
                      ).fetchall() == [("department", 1), ("job", 1)]


def test_over_1000_items_or_an_oversized_body_is_413_and_nothing_stored(token_for, api, pg):
    token = token_for("hr")
    too_many = post_batch(api, token, [record(n) for n in range(1001)])
    assert too_many.status_code == 413 and "1,000" in too_many.json()["message"]
    huge = api("/employees/batch", token, method="POST",
               data=b'{"employees": [{"first_name": "' + b"x" * (5 * 1024 * 1024) + b'"}]}',
               headers={"Content-Type": "application/json"})
    assert huge.status_code == 413 and huge.json()["status"] == 413
    assert stored_count(pg) == 0


def test_1000_ordinary_records_with_long_values_fit_and_are_created(token_for, api, pg):
    items = [record(n, first_name="F" * 100, last_name="L" * 100, location="Somewhere " * 10,
                    job_title="Senior principal engineer of long titles", phone="+44 20 7946 0958")
             for n in range(1000)]
    response = post_batch(api, token_for("hr"), items)
    assert response.status_code == 200, response.text[:500]
    assert response.json()["counts"]["created"] == 1000 == stored_count(pg)


@pytest.mark.parametrize("body, field", [
    ({"employees": []}, "employees"),                       # 0 items
    ({"employees": [record(1), "E2"]}, "employees.1"),      # an item that is not an object
    ({"employees": [record(1), None]}, "employees.1"),
    ({"employees": record(1)}, "employees"),                # an object, not a list
    ({}, "employees"),
    ({"employees": [record(1)], "extra": 1}, "extra"),
])
def test_malformed_batches_are_422_and_store_nothing(token_for, api, pg, body, field):
    response = api("/employees/batch", token_for("hr"), method="POST", json=body)
    assert response.status_code == 422, response.text
    assert any(name.startswith(field) for name in response.json()["errors"]), response.json()
    assert stored_count(pg) == 0


@pytest.mark.parametrize("query", ["atomic=maybe", "atomic=true&x=1", "atomic=" + "t" * 3000, "atomic=tr%00ue"])
def test_bad_query_is_422(token_for, api, query):
    response = api(f"/employees/batch?{query}", token_for("hr"), method="POST", json={"employees": [record(1)]})
    assert response.status_code == 422, response.text


def test_hostile_values_in_items_are_refused_per_item_never_a_500(token_for, api, pg):
    items = [
        record(1, first_name="Ada\x00"),                         # NUL
        record(2, employee_id="E\u200b2"),                        # an invisible character: E2 as the form stores it
        record(3, employee_id="\u200b\u200b"),                   # only invisible characters
        record(4, employee_id="\ufdfa" * 20),                    # grows 18-fold under NFKC
        record(5, last_name="x" * 100_000),                      # huge
        record(6, email="ada6@exa\u0000mple.com"),
        {"employee_id": "E7", "first_name": "A", "last_name": "B", "fi\x00rst": "x"},  # a hostile field name
        record(8, employee_id="Е8"),                             # Cyrillic Е, a look-alike
    ]
    response = post_batch(api, token_for("hr"), items)
    assert response.status_code == 200, response.text[:500]
    statuses = [r["status"] for r in response.json()["results"]]
    assert statuses[0] == "invalid" and statuses[2] == "invalid" and statuses[3] == "invalid"
    assert statuses[4] == "invalid" and statuses[5] == "invalid" and statuses[6] == "invalid"
    stored = {row[0] for row in pg.execute("SELECT employee_id FROM employees")}
    assert stored <= {"E2", "Е8"} and all("\x00" not in value for value in stored)


def test_roles_and_tokens(token_for, api, pg):
    assert post_batch(api, token_for("viewer"), [record(1)]).status_code == 403
    no_token = post_batch(api, None, [record(1)])
    assert no_token.status_code == 401 and "WWW-Authenticate" in no_token.headers
    assert post_batch(api, "emp_" + "x" * 43, [record(1)]).status_code == 401
    assert stored_count(pg) == 0


def test_a_body_that_is_not_json_is_415_and_broken_json_400(token_for, api):
    token = token_for("hr")
    assert api("/employees/batch", token, method="POST", data=b"employees=1",
               headers={"Content-Type": "application/x-www-form-urlencoded"}).status_code == 415
    broken = api("/employees/batch", token, method="POST", data=b'{"employees": [',
                 headers={"Content-Type": "application/json"})
    assert broken.status_code == 400 and broken.json()["message"] == "The body is not valid JSON."


def test_503_while_postgresql_is_unreachable_and_nothing_stored(token_for, api, database_url, postgres_outage):
    token = token_for("hr")
    with postgres_outage():
        response = post_batch(api, token, [record(1)])
    assert response.status_code == 503 and "Retry-After" in response.headers
    assert response.json()["status"] == 503
    with psycopg.connect(database_url) as conn:  # (the outage ended the fixture's connections)
        assert stored_count(conn) == 0
