"""Idempotency-Key on the POSTs under /api/v1, over real HTTP with the
suite's Valkey and PostgreSQL: a retry gets the first answer again and
stores nothing twice, also when the first attempt's COMMIT went through but
its answer was lost, or never went through."""
import hashlib
import json
import threading
import time

import psycopg
import pytest

from employee_app.services import idempotency

from .test_batch import post_batch, record


def keyed(key: str) -> dict:
    return {"headers": {"Idempotency-Key": key}}


def counts(conn) -> tuple[int, int]:
    """(employees, their audit entries): the departments and jobs they add
    have entries of their own (tests/api/test_new_entries_history.py)."""
    return (conn.execute("SELECT count(*) FROM employees").fetchone()[0],
            conn.execute("SELECT count(*) FROM audit_log WHERE subject = 'employee'").fetchone()[0])


def names(pg, username: str, key: str) -> tuple[str, str]:
    owner = pg.execute("SELECT id FROM users WHERE username = %s", (username,)).fetchone()[0]
    return idempotency._names(owner, key)


def test_a_batch_retried_with_its_key_replays_the_first_answer_and_stores_nothing_new(token_for, api, pg):
    token = token_for("hr")
    items = [record(1), record(2, hire_date="nope")]
    first = post_batch(api, token, items, **keyed("batch-0001"))
    assert first.status_code == 200 and "Idempotency-Replayed" not in first.headers
    stored = counts(pg)
    again = post_batch(api, token, items, **keyed("batch-0001"))
    assert again.status_code == 200 and again.headers["Idempotency-Replayed"] == "true"
    assert again.json() == first.json()  # created, not a false duplicate of itself
    assert again.json()["results"][0]["status"] == "created"
    assert counts(pg) == stored == (1, 1)


def test_the_same_key_with_another_body_or_address_is_422(token_for, api, pg):
    token = token_for("hr")
    assert post_batch(api, token, [record(1)], **keyed("k-1")).status_code == 200
    other_body = post_batch(api, token, [record(2)], **keyed("k-1"))
    assert other_body.status_code == 422 and "another request" in other_body.json()["message"]
    other_query = post_batch(api, token, [record(1)], atomic=True, **keyed("k-1"))
    assert other_query.status_code == 422
    other_route = api("/employees", token, method="POST", json=record(1), **keyed("k-1"))
    assert other_route.status_code == 422
    assert counts(pg) == (1, 1)


def test_a_single_post_with_a_key_replays_its_201_with_location_and_etag(token_for, api, pg):
    token = token_for("hr")
    first = api("/employees", token, method="POST", json=record(1), **keyed("one-record"))
    assert first.status_code == 201
    again = api("/employees", token, method="POST", json=record(1), **keyed("one-record"))
    assert again.status_code == 201 and again.headers["Idempotency-Replayed"] == "true"
    assert again.headers["Location"] == first.headers["Location"] and again.headers["ETag"] == first.headers["ETag"]
    assert again.json() == first.json()
    # Without the key the same record is a duplicate, as always.
    assert api("/employees", token, method="POST", json=record(1)).status_code == 409
    assert counts(pg) == (1, 1)


def test_keys_belong_to_the_token_owner(token_for, api, pg):
    """Another account's request with the same key is its own request."""
    first = post_batch(api, token_for("hr", "sync-a"), [record(1)], **keyed("shared-key"))
    other = post_batch(api, token_for("hr", "sync-b"), [record(1)], **keyed("shared-key"))
    assert "Idempotency-Replayed" not in other.headers
    assert first.json()["results"][0]["status"] == "created" and other.json()["results"][0]["status"] == "duplicate"


@pytest.mark.parametrize("key", ["", "k" * 256, "has space", "ключ", "tab\there"])
def test_a_key_that_is_not_1_to_255_visible_ascii_characters_is_400(token_for, api, pg, key):
    response = post_batch(api, token_for("hr"), [record(1)], headers={"Idempotency-Key": key.encode()})
    assert response.status_code == 400, response.text
    assert "Idempotency-Key" in response.json()["message"]
    assert counts(pg) == (0, 0)


def test_a_255_character_key_is_fine(token_for, api):
    assert post_batch(api, token_for("hr"), [record(1)], **keyed("k" * 255)).status_code == 200


def test_two_concurrent_requests_with_one_key_run_once(token_for, api, pg):
    token = token_for("hr")
    items = [record(n) for n in range(300)]
    answers = []
    start = threading.Barrier(2)

    def send():
        start.wait()
        answers.append(post_batch(api, token, items, **keyed("race")))
    threads = [threading.Thread(target=send) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    ran = [a for a in answers if "Idempotency-Replayed" not in a.headers and a.status_code == 200]
    assert len(ran) == 1, [(a.status_code, a.headers.get("Idempotency-Replayed")) for a in answers]
    other = next(a for a in answers if a is not ran[0])
    if other.status_code == 200:  # it waited for the first and replays it
        assert other.headers["Idempotency-Replayed"] == "true" and other.json() == ran[0].json()
    else:
        assert other.status_code == 409 and other.json()["code"] == "idempotency_key_in_use"
    assert ran[0].json()["counts"]["created"] == 300
    assert counts(pg) == (300, 300)


def test_a_key_still_running_elsewhere_is_409_in_use_with_retry_after(token_for, api, pg, valkey):
    token = token_for("hr")
    lock, _ = names(pg, "api-hr", "busy")
    valkey.set(lock, "another request's", ex=60)  # a request holding the key, running on
    started = time.monotonic()
    response = post_batch(api, token, [record(1)], **keyed("busy"))
    assert response.status_code == 409 and response.headers["Retry-After"] == "1"
    assert response.json()["code"] == "idempotency_key_in_use" and response.json()["status"] == 409
    assert time.monotonic() - started >= idempotency.WAIT_SECONDS * 0.9  # it waited for the other first
    assert counts(pg) == (0, 0)


@pytest.fixture
def slow_commit(database_url):
    """COMMIT of a transaction that inserted employees takes 1.5 s (a
    deferred trigger), leaving time to break things in the middle of it."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("CREATE FUNCTION test_slow_commit() RETURNS trigger LANGUAGE plpgsql AS"
                     " $$ BEGIN PERFORM pg_sleep(1.5); RETURN NULL; END $$")
        conn.execute("CREATE CONSTRAINT TRIGGER test_slow_commit AFTER INSERT ON employees DEFERRABLE"
                     " INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION test_slow_commit()")
    yield
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("DROP TRIGGER test_slow_commit ON employees")
        conn.execute("DROP FUNCTION test_slow_commit()")


def _in_background(work):
    result = {}
    thread = threading.Thread(target=lambda: result.setdefault("answer", work()))
    thread.start()
    return thread, result


def _wait_for_state(valkey, record_key: str, state: str, first: dict) -> dict:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        raw = valkey.get(record_key)
        if raw and json.loads(raw)["state"] == state:
            return json.loads(raw)
        time.sleep(0.02)
    answer = first.get("answer")
    raise AssertionError(f"the key's record never reached {state!r}; the request's answer: "
                         f"{answer is not None and (answer.status_code, answer.text[:300])}")


def test_commit_done_but_answer_lost_the_retry_replays_and_stores_nothing_twice(
        token_for, api, pg, valkey, slow_commit):
    """The COMMIT reaches PostgreSQL; Valkey refuses writes at that moment
    (out of memory), so the key's record stays "committing" (its answer and
    the new rows' keys), as when the process dies right after its COMMIT.
    Once the first request's lock is gone, the retry finds the rows in
    PostgreSQL and replays the answer instead of creating them again or
    calling them duplicates."""
    token = token_for("hr")
    lock, record_key = names(pg, "api-hr", "lost-answer")
    thread, first = _in_background(lambda: post_batch(api, token, [record(1)], **keyed("lost-answer")))
    committing = _wait_for_state(valkey, record_key, "committing", first)
    valkey.config_set("maxmemory", "1")  # every write refused from now: "done" is never written
    try:
        thread.join(30)
    finally:
        valkey.config_set("maxmemory", "0")
    assert first["answer"].status_code == 200
    assert json.loads(valkey.get(record_key))["state"] == "committing"
    assert committing["pks"] and counts(pg) == (1, 1)
    valkey.delete(lock)  # its lock expires (LOCK_SECONDS) rather than waiting for it here
    retry = post_batch(api, token, [record(1)], **keyed("lost-answer"))
    assert retry.status_code == 200 and retry.headers["Idempotency-Replayed"] == "true"
    assert retry.json() == first["answer"].json() and retry.json()["results"][0]["status"] == "created"
    assert counts(pg) == (1, 1)
    assert json.loads(valkey.get(record_key))["state"] == "done"


def test_postgresql_gone_at_commit_the_retry_runs_again_and_creates_once(
        token_for, api, pg, valkey, database_url, postgres_outage, slow_commit):
    """PostgreSQL stops while the COMMIT runs: nothing is stored and the
    answer is 503 (a COMMIT that was sent is never run again). The key's
    record says "committing", but its rows are not in PostgreSQL: the retry
    runs the batch again and creates the record, once."""
    token = token_for("hr")
    _, record_key = names(pg, "api-hr", "lost-commit")
    thread, first = _in_background(lambda: post_batch(api, token, [record(1)], **keyed("lost-commit")))
    _wait_for_state(valkey, record_key, "committing", first)
    with postgres_outage():
        thread.join(30)
    assert first["answer"].status_code == 503, first["answer"].text
    retry = post_batch(api, token, [record(1)], **keyed("lost-commit"))
    assert retry.status_code == 200 and "Idempotency-Replayed" not in retry.headers
    assert retry.json()["results"][0]["status"] == "created"
    with psycopg.connect(database_url) as conn:
        assert counts(conn) == (1, 1)


def test_an_upload_is_fingerprinted_whole_while_it_is_parsed(app):
    """A multipart body (POST /imports) is hashed as werkzeug parses it to
    temporary files: the fingerprint covers every byte, and the view still
    reads the parsed form and file."""
    from employee_app.api.idempotency import request_fingerprint

    content = b"employee_id,first_name\n" + b"E1,Ada\n" * 200_000
    boundary = "XyZ"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"mode\"\r\n\r\nvalid_rows\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"e.csv\"\r\n"
            f"Content-Type: text/csv\r\n\r\n").encode() + content + f"\r\n--{boundary}--\r\n".encode()
    with app.test_request_context("/api/v1/imports?x=1", method="POST", data=body,
                                  content_type=f"multipart/form-data; boundary={boundary}"):
        from flask import request
        fingerprint = request_fingerprint()
        assert request.form["mode"] == "valid_rows" and request.files["file"].read() == content
    expected = idempotency.fingerprint([b"POST", b"/api/v1/imports", b"x=1", hashlib.sha256(body).digest()])
    assert fingerprint == expected


def test_an_oversized_body_with_a_key_is_413_and_leaves_no_answer(token_for, api, pg, valkey):
    response = api("/employees/batch", token_for("hr"), method="POST",
                   data=b'{"employees": [{"first_name": "' + b"x" * (5 * 1024 * 1024) + b'"}]}',
                   headers={"Content-Type": "application/json", "Idempotency-Key": "too-big"})
    assert response.status_code == 413 and response.json()["status"] == 413
    assert counts(pg) == (0, 0) and not valkey.keys(idempotency.PREFIX + "*")


def test_the_openapi_document_names_the_header_on_both_posts(api):
    paths = api("/openapi.json").json()["paths"]
    for path in ("/api/v1/employees", "/api/v1/employees/batch"):
        names = {parameter["name"] for parameter in paths[path]["post"]["parameters"]}
        assert "Idempotency-Key" in names, names


def test_without_valkey_a_keyed_request_is_503_and_a_keyless_one_goes_on(token_for, api, pg, valkey_server):
    token = token_for("hr")
    valkey_server.stop()
    try:
        keyed_answer = post_batch(api, token, [record(1)], **keyed("no-valkey"))
        assert keyed_answer.status_code == 503 and "Retry-After" in keyed_answer.headers
        assert counts(pg) == (0, 0)
        time.sleep(1.1)  # (the app's breaker skips Valkey for a second after a failure)
        keyless = post_batch(api, token, [record(1)])
        assert keyless.status_code == 200 and keyless.json()["counts"]["created"] == 1
    finally:
        valkey_server.start()
        time.sleep(1.1)  # the breaker, tripped by the keyless request, closes before the next test
