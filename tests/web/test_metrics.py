"""/metrics over real HTTP from the suite's gunicorn (2 processes, each
request to either): refused without its bearer token, and the counters an
operator watches move when the app does what they count. Counts add up over
the session, so each test compares a scrape before with one after."""
import requests

from ..conftest import METRICS_TOKEN
from ..helpers import HttpClient, employee, scrape
from .test_edit_delete import add, open_edit
from .test_login_throttle import attempt

REQUESTS = "employee_app_http_request_duration_seconds_count"


def test_metrics_are_refused_without_the_token_whatever_the_session(live_server, login):
    admin = login("admin")
    for client, headers in [(requests, {}), (requests, {"Authorization": "Bearer wrong-token-of-some-length"}),
                            (requests, {"Authorization": f"Basic {METRICS_TOKEN}"}),
                            (requests, {"Authorization": METRICS_TOKEN}),
                            (admin.session, {})]:
        response = client.get(live_server + "/metrics", headers=headers, timeout=30)
        assert response.status_code == 401, headers
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        assert "employee_app_" not in response.text

    response = requests.get(live_server + "/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"},
                            timeout=30)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain; version=")
    assert "# TYPE employee_app_http_request_duration_seconds histogram" in response.text


def test_requests_are_counted_per_endpoint_and_status_never_per_raw_path(live_server):
    before = scrape(live_server)
    client = HttpClient(live_server)
    assert client.get("/login").status_code == 200
    assert client.get("/login").status_code == 200
    assert client.get("/employees/E12345/edit").status_code == 302  # to the login page
    assert client.get("/no/such/page-0042").status_code == 404
    after = scrape(live_server)

    def moved(**labels):
        return after.value(REQUESTS, **labels) - before.value(REQUESTS, **labels)

    assert moved(endpoint="auth.login", method="GET", status="200") == 2
    assert moved(endpoint="employees.edit", method="GET", status="302") == 1
    assert moved(endpoint="unmatched", method="GET", status="404") == 1
    bucket = "employee_app_http_request_duration_seconds_bucket"
    assert after.value(bucket, endpoint="auth.login", method="GET", status="200", le="+Inf") == \
        after.value(REQUESTS, endpoint="auth.login", method="GET", status="200")
    assert after.value("employee_app_http_request_duration_seconds_sum",
                       endpoint="auth.login", method="GET", status="200") > 0
    # Label values are endpoint names: no path, ID or typed text of a request.
    assert "page-0042" not in after.text and "E12345" not in after.text


def test_duplicates_refused_are_counted_by_path(login):
    admin = login("admin")
    before = scrape(admin.base_url)
    add(admin, "E1", email="ada@example.com")
    add(admin, "E2", email="grace@example.com")
    assert admin.submit("/employees/new", employee("e1")).status_code == 409
    assert admin.submit("/employees/new", employee("E3", email="ADA@example.com")).status_code == 409
    form = open_edit(admin, "E2")
    assert admin.post("/employees/E2/edit", dict(form, employee_id="E1")).status_code == 409
    after = scrape(admin.base_url)

    def moved(path):
        return after.value("employee_app_duplicates_refused_total", path=path) - \
            before.value("employee_app_duplicates_refused_total", path=path)

    assert (moved("form"), moved("edit"), moved("import")) == (2, 1, 0)


def test_login_lockouts_are_counted(live_server, make_user):
    make_user("dana", "hr")
    before = scrape(live_server)
    client = HttpClient(live_server)
    statuses = [attempt(client, "dana").status_code for _ in range(7)]
    assert statuses == [401] * 5 + [429, 429]
    after = scrape(live_server)
    moved = after.value("employee_app_login_lockouts_total", lock="username") - \
        before.value("employee_app_login_lockouts_total", lock="username")
    assert moved == 2


def test_a_fallback_to_postgresql_is_counted_while_valkey_is_down(login, valkey_server, pg):
    admin = login("admin")
    before = scrape(admin.base_url)
    valkey_server.stop()
    try:
        add(admin, "E7")  # the duplicate guard asks Valkey, which is not there
        assert admin.submit("/employees/new", employee("E7")).status_code == 409  # PostgreSQL still says so
        during = scrape(admin.base_url)
    finally:
        valkey_server.start()
    assert pg.execute("SELECT count(*) FROM employees WHERE employee_id = 'E7'").fetchone()[0] == 1

    def moved(reason):
        return during.value("employee_app_valkey_fallbacks_total", reason=reason) - \
            before.value("employee_app_valkey_fallbacks_total", reason=reason)

    assert moved("unreachable") >= 1
    assert moved("refused") == 0
    # Without Valkey the queue's length is unknown: left out, never a made-up 0.
    assert not during.has("employee_app_import_queue_length")
    assert before.has("employee_app_import_queue_length") and before.value("employee_app_import_queue_length") == 0
