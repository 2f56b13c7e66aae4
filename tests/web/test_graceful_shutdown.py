"""gunicorn.conf.py's graceful shutdown, for real: a request under way when
gunicorn gets SIGTERM (a deploy, `podman stop`) is answered, here an upload
whose body is still arriving, and only then does gunicorn exit."""
import os
import signal
import socket
import time

from ..conftest import Gunicorn


def test_a_request_under_way_at_sigterm_is_answered_before_gunicorn_exits(app, app_env, tmp_path):
    server = Gunicorn(dict(os.environ, **app_env), workers=1, threads=2, log=tmp_path / "gunicorn.log").start()
    try:
        body = b"username=nobody&password=" + b"x" * 40
        with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
            sock.sendall(b"POST /login HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                         b"Content-Type: application/x-www-form-urlencoded\r\n"
                         b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body[:10])
            time.sleep(1)  # the app is reading the body
            server.process.send_signal(signal.SIGTERM)
            time.sleep(2)
            assert server.process.poll() is None, "gunicorn left before answering the request under way"
            sock.sendall(body[10:])
            answer = b""
            while chunk := sock.recv(65536):
                answer += chunk
        # The app answered it in full: the login form without a CSRF token
        # (as from a login page whose session ended) is sent to log in again.
        assert answer.startswith(b"HTTP/1.1 303"), answer[:200]
        assert b"\r\nLocation: /login\r\n" in answer
        assert b"X-Request-ID: " in answer
        server.process.wait(30)
        assert server.process.returncode == 0
    finally:
        if server.process.poll() is None:
            server.process.kill()
            server.process.wait(10)
