"""Helpers of the push client's tests (tests/api/test_push_client.py and
tests/ops/test_push_outage.py): files to push, the command run as a person
runs it (its own process, the token on stdin), and a TCP relay standing
between the client and the suite's gunicorn to stage network failures."""
import csv
import json
import os
import socket
import subprocess
import sys
import threading
import time

HEADER = ["employee_id", "first_name", "last_name", "email", "hire_date"]


def person(number: int, **fields) -> dict:
    row = {"employee_id": f"P{number}", "first_name": "Ada", "last_name": f"Lovelace{number}",
           "email": f"p{number}@example.com", "hire_date": "2024-03-01"}
    row.update(fields)
    return row


def write_csv(path, rows: list[dict], header: list[str] = HEADER) -> str:
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows([row.get(name, "") for name in header] for row in rows)
    return str(path)


def read_refused(path) -> list[dict]:
    with open(path, newline="", encoding="utf-8-sig") as f:
        return list(csv.DictReader(f))


def push_command(path, base_url: str, *args) -> list[str]:
    return [sys.executable, "-m", "flask", "--app", "employee_app", "push", str(path), "--url", base_url,
            "--token-stdin", *map(str, args)]


def run_push(app_env: dict, path, base_url: str, token: str, *args, timeout: float = 300):
    """The push command in its own process, the token on stdin: (exit code, stdout, stderr)."""
    done = subprocess.run(push_command(path, base_url, *args), input=token + "\n", capture_output=True, text=True,
                          env=dict(os.environ, **app_env), timeout=timeout, cwd=os.path.dirname(os.path.dirname(
                              os.path.abspath(__file__))))
    return done.returncode, done.stdout, done.stderr


def start_push(app_env: dict, path, base_url: str, token: str, *args) -> subprocess.Popen:
    process = subprocess.Popen(push_command(path, base_url, *args), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, env=dict(os.environ, **app_env),
                               cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    process.stdin.write(token + "\n")
    process.stdin.close()
    process.stdin = None  # so that communicate() does not flush it again
    return process


def stored_ids(pg) -> list[str]:
    return [row[0] for row in pg.execute("SELECT employee_id FROM employees ORDER BY employee_id")]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Relay:
    """Listens on a port of its own and relays each connection to the
    suite's gunicorn. listen_after: seconds before the port accepts at all
    (connection refused until then). cut_answers: the first N connections
    are cut as the server's answer starts, so the request was served but
    the client never learns its answer (as a dropped network or a proxy
    timing out). refuse=(count, status, headers): the first `count`
    connections get that answer (a JSON problem body, with refuse_body's
    keys) instead of reaching the server, as a proxy or load balancer in
    front of it may answer."""

    def __init__(self, upstream: str, *, listen_after: float = 0.0, cut_answers: int = 0,
                 refuse: tuple[int, int, dict] | None = None, refuse_body: dict | None = None):
        host, port = upstream.removeprefix("http://").split(":")
        self.upstream = (host, int(port))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.listen_after = listen_after
        self.cut_answers = cut_answers
        self.cut = 0
        self.refuse = refuse
        self.refuse_body = refuse_body or {}
        self.refused = 0
        self.connections = 0
        self.lock = threading.Lock()
        self.closing = threading.Event()
        self.server: socket.socket | None = None
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> "Relay":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.closing.set()
        if self.server:
            self.server.close()
        self.thread.join(5)

    def _serve(self) -> None:
        if self.closing.wait(self.listen_after):
            return
        self.server = socket.create_server(("127.0.0.1", self.port))
        self.server.settimeout(0.2)
        while not self.closing.is_set():
            try:
                client, _ = self.server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self.lock:
                self.connections += 1
                refused = self.refuse is not None and self.refused < self.refuse[0]
                self.refused += refused
                cut = not refused and self.cut < self.cut_answers
                self.cut += cut
            target = self._answer_instead if refused else self._relay
            threading.Thread(target=target, args=(client, cut), daemon=True).start()

    def _answer_instead(self, client: socket.socket, _cut: bool) -> None:
        _, status, headers = self.refuse
        body = json.dumps({"status": status, "message": "Not now.", **self.refuse_body}).encode()
        head = "".join(f"{name}: {value}\r\n" for name, value in {
            **headers, "Content-Type": "application/json", "Content-Length": len(body), "Connection": "close"}.items())
        try:
            client.recv(65536)  # the request's start: the answer does not depend on it
            client.sendall(f"HTTP/1.1 {status} Refused\r\n{head}\r\n".encode() + body)
        finally:
            client.close()

    def _relay(self, client: socket.socket, cut: bool) -> None:
        upstream = socket.create_connection(self.upstream)
        to_server = threading.Thread(target=_pipe, args=(client, upstream), daemon=True)
        to_server.start()
        try:
            while chunk := upstream.recv(65536):
                if cut:
                    break  # the answer was written by the server; the client never gets it
                client.sendall(chunk)
        except OSError:
            pass
        finally:
            for end in (client, upstream):
                try:
                    end.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                end.close()


def _pipe(source: socket.socket, target: socket.socket) -> None:
    try:
        while chunk := source.recv(65536):
            target.sendall(chunk)
    except OSError:
        pass
    try:
        target.shutdown(socket.SHUT_WR)
    except OSError:
        pass


def wait_until(condition, timeout: float, every: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(every)
    return False
