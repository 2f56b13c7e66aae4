import pytest
import requests

from ..conftest import unrecorded_accounts


@pytest.fixture
def token_for(app, make_user):
    """token_for(role, username=None) -> a token of a new account with that role, made by the CLI."""
    def make(role: str, username: str | None = None) -> str:
        username = username or f"api-{role}"
        make_user(username, role)
        with unrecorded_accounts():
            result = app.test_cli_runner().invoke(args=["create-token", username, f"{role} sync"])
        assert result.exit_code == 0, result.output
        return result.output.strip()
    return make


@pytest.fixture
def api(live_server):
    """api(path, token=None, **kwargs) -> a GET under /api/v1 with no cookies at all."""
    def get(path: str, token: str | None = None, method: str = "GET", headers: dict | None = None, **kwargs):
        headers = dict(headers or {})
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        url = path if path.startswith("http") else f"{live_server}/api/v1{path}"
        return requests.request(method, url, headers=headers, timeout=30, allow_redirects=False, **kwargs)
    return get
