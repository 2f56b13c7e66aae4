"""PostgreSQL stopped and started again under the running app (gunicorn):
every page answers 503 with a page of its own, /readyz says why, /healthz
stays alive, and the app serves again once PostgreSQL is back, without a
restart."""
import psycopg

from ..helpers import PASSWORD, HttpClient, csrf_token, employee, wait_for


def assert_unavailable_page(response) -> None:
    assert response.status_code == 503, response.status_code
    assert response.headers["Content-Type"].startswith("text/html")
    assert int(response.headers["Retry-After"]) > 0
    assert "The database is unavailable" in response.text and "try again" in response.text
    # The layout, without what needs the database: no menu, no account name.
    assert "Employee records" in response.text and "Log out" not in response.text
    assert "hr-user" not in response.text and "Traceback" not in response.text


def test_pages_answer_503_while_postgres_is_stopped_then_serve_again(login, live_server, valkey, database_url,
                                                                    postgres_outage, make_user):
    hr = login("hr")
    assert hr.submit("/employees/new", employee("E1")).status_code == 303
    other = login("hr", "hr-other")
    make_user("viewer-later", "viewer")
    anonymous = HttpClient(live_server)
    with psycopg.connect(database_url) as conn:
        other_id = conn.execute("SELECT id FROM users WHERE username = 'hr-other'").fetchone()[0]
    # hr's login check is answered from Valkey (kept a few seconds after this
    # request); the other session's kept answer is voided, as an account
    # change does, so its check asks PostgreSQL: both must fail whole.
    form_token = csrf_token(hr.get("/employees/new").text)
    valkey.set(f"session-generation:{other_id}", "renewed")

    with postgres_outage():
        for client, path in ((hr, "/employees"), (hr, "/employees/E1"), (hr, "/"), (other, "/employees"),
                             (other, "/imports"), (anonymous, "/employees/E1")):
            response = client.get(path)
            if client is anonymous:  # not logged in: sent to the login page, which needs no database
                assert response.status_code == 302
                continue
            assert_unavailable_page(response)
        assert_unavailable_page(hr.post("/employees/new", {"csrf_token": form_token, **employee("E2")}))
        login_form = anonymous.get("/login")
        assert login_form.status_code == 200
        assert_unavailable_page(anonymous.post("/login", {"csrf_token": csrf_token(login_form.text),
                                                          "username": "viewer-later", "password": PASSWORD}))

        alive = anonymous.get("/healthz")
        assert alive.status_code == 200 and alive.json() == {"status": "ok"}
        ready = anonymous.get("/readyz")
        assert ready.status_code == 503 and ready.headers["Content-Type"] == "application/json"
        assert ready.json()["status"] == "not ready" and ready.json()["database"] == "down"

    # Back: the same processes serve again (their pools drop the dead connections).
    wait_for(lambda: anonymous.get("/readyz").status_code == 200)
    assert anonymous.get("/readyz").json() == {"status": "ok", "database": "ok", "migrations": "ok", "valkey": "ok"}
    page = hr.get("/employees/E1")
    assert page.status_code == 200 and "Log out" in page.text
    assert other.get("/employees").status_code == 200
    assert hr.submit("/employees/new", employee("E2")).status_code == 303
    assert hr.submit("/employees/new", employee("e2")).status_code == 409
    HttpClient(live_server).login("viewer-later", PASSWORD)
    with psycopg.connect(database_url) as conn:
        stored = [row[0] for row in conn.execute("SELECT employee_id FROM employees ORDER BY 1")]
    assert stored == ["E1", "E2"]  # the POST during the outage stored nothing
