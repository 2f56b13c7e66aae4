"""Request ids and JSON logs, over real HTTP.

Every response carries X-Request-ID: the caller's if it is sane, else a
new one. A second gunicorn, started here with LOG_FORMAT=json and without
METRICS_TOKEN (so /metrics is off), writes its output to a file that the
tests read back: every line one JSON object, each line of a request with
the id its response gave. Hostile ids go over a raw socket (HTTP libraries
refuse to send them)."""
import json
import os
import re
import socket
from urllib.parse import urlsplit

import pytest
import requests

from ..conftest import METRICS_TOKEN, Gunicorn
from ..helpers import PASSWORD, HttpClient, csrf_token

GENERATED = re.compile(r"[0-9a-f]{32}")


@pytest.fixture(scope="module")
def json_server(app, app_env, tmp_path_factory):
    log = tmp_path_factory.mktemp("json-logs") / "gunicorn.log"
    server = Gunicorn(dict(os.environ, **app_env) | {"LOG_FORMAT": "json", "METRICS_TOKEN": ""}, workers=1, threads=2,
                      log=log).start()
    server.log_lines = lambda: log.read_text(errors="replace").splitlines()
    yield server
    server.stop()


def raw_get(base_url: str, path: str, extra_header: bytes) -> tuple[int, dict[str, str]]:
    """GET over a plain socket, with a header line as given (any bytes)."""
    address = urlsplit(base_url)
    with socket.create_connection((address.hostname, address.port), timeout=10) as sock:
        sock.sendall(b"GET " + path.encode() + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                     + extra_header + b"\r\n")
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head = data.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
    headers = {name.strip().lower(): value.strip() for name, _, value in (line.partition(":") for line in head[1:])}
    return int(head[0].split()[1]), headers


def test_each_response_has_a_new_id_unless_the_caller_sent_a_sane_one(live_server):
    first, second = requests.get(live_server + "/login", timeout=30), requests.get(live_server + "/login", timeout=30)
    assert GENERATED.fullmatch(first.headers["X-Request-ID"])
    assert first.headers["X-Request-ID"] != second.headers["X-Request-ID"]
    for sane in ("trace-OK.1:2", "0af7651916cd43dd8448eb211c80319c", "abc+/=", "x" * 128):
        response = requests.get(live_server + "/login", headers={"X-Request-ID": sane}, timeout=30)
        assert response.headers["X-Request-ID"] == sane
    # Also on what the app refuses: a 404, a login redirect, a 401.
    for path, status in [("/nowhere", 404), ("/employees", 302), ("/metrics", 401)]:
        response = requests.get(live_server + path, headers={"X-Request-ID": "kept-1"}, allow_redirects=False,
                                timeout=30)
        assert (response.status_code, response.headers["X-Request-ID"]) == (status, "kept-1")


HOSTILE = [
    b"HOSTILE1" + b"a" * 130,  # longer than 128
    b"HOSTILE2" + b"A" * 6000,  # huge (gunicorn takes header lines up to 8190 bytes)
    "HOSTILE3-résumé".encode(),  # non-ASCII
    b"HOSTILE4 with spaces",
    b'HOSTILE5","level":"CRITICAL',  # a forged JSON field
    b"HOSTILE6\x00nul",
    b"HOSTILE7\rcarriage",
    b"HOSTILE8\r\n\tfolded: onto the next line",
    b"",
]


def test_a_hostile_request_id_is_replaced_and_never_logged(json_server):
    answered_by_the_app = 0
    for hostile in HOSTILE:
        status, headers = raw_get(json_server.base_url, "/login", b"X-Request-ID: " + hostile + b"\r\n")
        assert status in (200, 400), (hostile[:20], status)  # 400: gunicorn refused the header line itself
        if status == 200:
            answered_by_the_app += 1
            assert GENERATED.fullmatch(headers["x-request-id"]), (hostile[:20], headers["x-request-id"][:40])
    assert answered_by_the_app >= 6  # the long, huge, non-ASCII, spaced, JSON-like and empty ones at least
    assert not [line for line in json_server.log_lines() if "HOSTILE" in line]


def test_json_log_lines_carry_the_request_id_the_response_gave(json_server, make_user, valkey_server):
    make_user("ivy", "hr")
    client = HttpClient(json_server.base_url)
    token_page = client.get("/login")
    client.session.headers["X-Request-ID"] = "trace-login-7"
    valkey_server.stop()  # the login's session check falls back to PostgreSQL, and says so in the log
    try:
        response = client.post("/login", {"csrf_token": csrf_token(token_page.text), "username": "ivy",
                                           "password": PASSWORD})
    finally:
        valkey_server.start()
    assert response.status_code == 303 and response.headers["X-Request-ID"] == "trace-login-7"

    lines = [json.loads(line) for line in json_server.log_lines()]  # every line is one JSON object
    assert all({"time", "level", "logger", "message"} <= line.keys() for line in lines)
    ours = [line for line in lines if line.get("request_id") == "trace-login-7"]
    fallback = [line for line in ours if line["logger"] == "employee_app.valkey_store"]
    assert fallback and fallback[0]["level"] == "WARNING" and "PostgreSQL alone" in fallback[0]["message"]
    access = [line for line in ours if line["logger"] == "gunicorn.access"]
    assert [(a["method"], a["path"], a["status"]) for a in access] == [("POST", "/login", "303")]
    assert "trace-login-7" in access[0]["message"]
    # Neither the password nor the CSRF token in any line.
    text = "\n".join(json_server.log_lines())
    assert PASSWORD not in text and csrf_token(token_page.text) not in text


def test_metrics_are_off_without_a_token_configured(json_server):
    response = requests.get(json_server.base_url + "/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"},
                            timeout=30)
    assert response.status_code == 404


def test_lines_after_a_request_are_not_given_its_id(json_server):
    """gunicorn refusing a malformed request (in the thread that served the
    last one) writes a line that belongs to no request."""
    assert requests.get(json_server.base_url + "/login", headers={"X-Request-ID": "earlier-9"}, timeout=30).ok
    for _ in range(4):  # 2 threads: each refusal after a request of its thread
        assert raw_get(json_server.base_url, "/login", b"X-Request-ID: a\x00b\r\n")[0] == 400
    refusals = [json.loads(line) for line in json_server.log_lines() if "Invalid request" in line]
    assert refusals and all("request_id" not in line for line in refusals)
