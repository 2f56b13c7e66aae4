"""What the request id and metrics hooks (employee_app/observability.py) add
to each request: a bare Flask route served through Flask's test client, with
and without the hooks, in prometheus_client's multiprocess mode as under
gunicorn (files in a temporary PROMETHEUS_MULTIPROC_DIR). No servers needed.

    .venv/bin/python bench/request_hooks_bench.py [--requests 20000] [--rounds 5]

Prints the median time per request of each, the difference in microseconds,
and the ratio to the bare route; then the hooks alone (before, after,
teardown), called in a loop inside one request context: the steadier figure
on a busy machine.
"""
import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="hooks-bench-")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from flask import Flask  # noqa: E402


def make_app(with_hooks: bool) -> Flask:
    app = Flask("bench")
    app.add_url_rule("/ping", "ping", lambda: "ok")
    if with_hooks:
        from employee_app import observability

        observability.init_app(app)
    return app


def per_request(app: Flask, requests: int, headers: dict) -> float:
    client = app.test_client()
    for _ in range(200):  # warm up (the label's files are made on first use)
        client.get("/ping", headers=headers)
    started = time.perf_counter()
    for _ in range(requests):
        client.get("/ping", headers=headers)
    return (time.perf_counter() - started) / requests


def hooks_alone(calls: int, headers: dict) -> float:
    from flask import Response

    from employee_app import observability

    app = make_app(True)
    response = Response("ok")
    with app.test_request_context("/ping", headers=headers):
        started = time.perf_counter()
        for _ in range(calls):
            observability._begin()
            observability._end(response)
            observability._forget()
        return (time.perf_counter() - started) / calls


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    bare, hooked = make_app(False), make_app(True)
    per_request(bare, args.requests, {})  # an untimed round of each first: the first round pays for warming up
    per_request(hooked, args.requests, {})
    for label, headers in [("a sane X-Request-ID", {"X-Request-ID": "abc-123"}), ("no X-Request-ID (generated)", {})]:
        base = statistics.median(per_request(bare, args.requests, headers) for _ in range(args.rounds))
        with_hooks = statistics.median(per_request(hooked, args.requests, headers) for _ in range(args.rounds))
        print(f"{label}: bare {base * 1e6:.1f} us, with the hooks {with_hooks * 1e6:.1f} us per request: "
              f"+{(with_hooks - base) * 1e6:.1f} us, {with_hooks / base:.2f}x the bare route")
        alone = statistics.median(hooks_alone(args.requests, headers) for _ in range(args.rounds))
        print(f"{label}: the hooks alone {alone * 1e6:.1f} us per request")
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
