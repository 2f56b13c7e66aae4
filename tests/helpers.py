"""Helpers for talking to the live app over HTTP, as a browser would."""
import re
from html import unescape

import requests

PASSWORD = "correct horse battery staple"
CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def csrf_token(html: str) -> str:
    match = CSRF_RE.search(html)
    assert match, "no CSRF token on the page"
    return unescape(match.group(1))


class HttpClient:
    """A requests.Session bound to the live server; redirects are not
    followed, so tests see the real status codes (303, 302, 409 ...)."""

    def __init__(self, base_url: str):
        self.base_url = base_url
        self.session = requests.Session()

    def get(self, path: str, **kwargs) -> requests.Response:
        kwargs.setdefault("allow_redirects", False)
        return self.session.get(self.base_url + path, timeout=30, **kwargs)

    def post(self, path: str, data: dict | None = None, **kwargs) -> requests.Response:
        kwargs.setdefault("allow_redirects", False)
        return self.session.post(self.base_url + path, data=data, timeout=30, **kwargs)

    def submit(self, form_path: str, data: dict, action: str | None = None) -> requests.Response:
        """GET the form page, then POST data with its CSRF token."""
        page = self.get(form_path)
        assert page.status_code == 200, page.status_code
        return self.post(action or form_path, {"csrf_token": csrf_token(page.text), **data})

    def login(self, username: str, password: str) -> requests.Response:
        response = self.submit("/login", {"username": username, "password": password})
        assert response.status_code == 303, f"login failed: {response.status_code}"
        return response


def employee(employee_id: str, **fields) -> dict:
    """Form data for a new employee, with sensible defaults."""
    data = {
        "employee_id": employee_id, "first_name": "Ada", "last_name": "Lovelace",
        "email": "", "phone": "", "department": "Engineering", "job_title": "Analyst",
        "employment_type": "full_time", "location": "London", "hire_date": "2024-03-01",
        "status": "active", "termination_date": "",
    }
    data.update(fields)
    return data


def wait_for(condition, timeout: float = 15.0) -> None:
    """Poll condition() until it holds; fail after timeout seconds."""
    import time

    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


class Metrics:
    """One scrape of /metrics, read as Prometheus reads it."""

    def __init__(self, text: str):
        from prometheus_client.parser import text_string_to_metric_families

        self.text = text
        self.samples = {(sample.name, frozenset(sample.labels.items())): sample.value
                        for family in text_string_to_metric_families(text) for sample in family.samples}

    def value(self, name: str, **labels) -> float:
        """A sample's value; 0 for a series not there (yet)."""
        return self.samples.get((name, frozenset(labels.items())), 0.0)

    def has(self, name: str, **labels) -> bool:
        return (name, frozenset(labels.items())) in self.samples


def scrape(base_url: str) -> Metrics:
    from .conftest import METRICS_TOKEN

    response = requests.get(base_url + "/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}, timeout=30)
    assert response.status_code == 200, response.status_code
    return Metrics(response.text)
