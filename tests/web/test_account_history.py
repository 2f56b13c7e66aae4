"""The History records changes to accounts: who created an account, gave or
took a role, deactivated or reactivated it, set its password, made or
revoked an API token; one entry per change, in its transaction, never a
password, a hash or a token; only admins read them."""
import csv
import io
import re
from html import unescape

import pytest

from ..helpers import PASSWORD, HttpClient, csrf_token, employee
from .test_accounts import NEW_PASSWORD, post_action, user_id

COLUMNS = "subject, entry_pk, entry_name, action, source, actor_name, changes"


def account_entries(pg) -> list[tuple]:
    return pg.execute(f"SELECT {COLUMNS} FROM audit_log WHERE subject = 'account' ORDER BY id").fetchall()


def the_new_entry(pg, before: int) -> tuple:
    """The one entry written since there were `before` entries."""
    entries = account_entries(pg)
    assert len(entries) == before + 1, entries[before:]
    return entries[-1]


def raw_log(pg) -> str:
    """The whole audit table as text, every column of every row."""
    return "\n".join(row[0] for row in pg.execute("SELECT audit_log::text FROM audit_log"))


def history_csv(admin: HttpClient, **params) -> list[dict]:
    response = admin.get("/admin/audit.csv", params=params)
    assert response.status_code == 200
    return list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))


def create_fern(admin: HttpClient, role: str = "hr"):
    return admin.submit("/admin/users/new", {"username": "fern", "role": role, "password": PASSWORD,
                                             "confirm": PASSWORD})


def test_each_change_on_the_admin_pages_writes_one_entry_without_the_password(login, pg):
    admin = login("admin", "ann")
    assert create_fern(admin).status_code == 303
    fern = user_id(pg, "fern")
    assert the_new_entry(pg, 0) == ("account", fern, "fern", "create", "accounts", "ann",
                                    {"username": [None, "fern"], "role": [None, "hr"]})
    assert post_action(admin, pg, "fern", "role", {"role": "admin"}).status_code == 303
    assert the_new_entry(pg, 1)[3:] == ("update", "accounts", "ann", {"role": ["hr", "admin"]})
    assert post_action(admin, pg, "fern", "deactivate").status_code == 303
    assert the_new_entry(pg, 2)[3:] == ("update", "accounts", "ann", {"active": ["yes", "no"]})
    assert post_action(admin, pg, "fern", "reactivate").status_code == 303
    assert the_new_entry(pg, 3)[3:] == ("update", "accounts", "ann", {"active": ["no", "yes"]})
    assert post_action(admin, pg, "fern", "password", {"password": NEW_PASSWORD,
                                                       "confirm": NEW_PASSWORD}).status_code == 303
    assert the_new_entry(pg, 4)[3:] == ("update", "accounts", "ann", {"password": [None, "set"]})
    actor = pg.execute("SELECT DISTINCT actor_id FROM audit_log").fetchall()
    assert actor == [(user_id(pg, "ann"),)]

    hashes = [row[0] for row in pg.execute("SELECT password_hash FROM users")]
    stored, exported = raw_log(pg), admin.get("/admin/audit.csv").text
    for secret in (PASSWORD, NEW_PASSWORD, *hashes, *(h.split("$")[-1] for h in hashes)):
        assert secret not in stored and secret not in exported
    rows = history_csv(admin, subject="account")
    assert [(r["actor"], r["subject"], r["list_entry"], r["action"], r["source"], r["field"], r["old_value"],
             r["new_value"]) for r in rows] == [
        ("ann", "account", "fern", "update", "accounts", "password", "", "set"),
        ("ann", "account", "fern", "update", "accounts", "active", "no", "yes"),
        ("ann", "account", "fern", "update", "accounts", "active", "yes", "no"),
        ("ann", "account", "fern", "update", "accounts", "role", "hr", "admin"),
        ("ann", "account", "fern", "create", "accounts", "username", "", "fern"),
        ("ann", "account", "fern", "create", "accounts", "role", "", "hr")]


def test_a_refused_or_empty_change_writes_no_entry(login, pg):
    admin = login("admin", "ann")
    login("viewer", "vic")
    assert post_action(admin, pg, "ann", "role", {"role": "viewer"}).status_code == 409  # the last admin
    assert post_action(admin, pg, "ann", "deactivate").status_code in (409, 422)
    assert post_action(admin, pg, "vic", "role", {"role": "owner"}).status_code == 422
    assert post_action(admin, pg, "vic", "role", {"role": "viewer"}).status_code == 303  # no change
    assert post_action(admin, pg, "vic", "password", {"password": "short", "confirm": "short"}).status_code == 422
    assert post_action(admin, pg, "vic", "password", {"password": NEW_PASSWORD,
                                                      "confirm": PASSWORD}).status_code == 422
    assert create_fern(admin).status_code == 303
    assert create_fern(admin, role="viewer").status_code == 422  # taken
    assert [entry[3] for entry in account_entries(pg)] == ["create"]
    assert pg.execute("SELECT role, active FROM users WHERE username IN ('ann', 'vic') ORDER BY username"
                      ).fetchall() == [("admin", True), ("viewer", True)]


@pytest.mark.parametrize("username, says", [
    ("fe\x00rn", "Username contains a control character (U+0000"), ("f" * 300, "Username: 1 to 64 letters"),
    ("<script>", "Username: 1 to 64 letters"), ("fern\u202e\x00", "Username contains a control character"),
])
def test_a_hostile_username_is_a_clear_422_and_no_entry(login, pg, username, says):
    admin = login("admin")
    response = admin.submit("/admin/users/new", {"username": username, "role": "hr", "password": PASSWORD,
                                                 "confirm": PASSWORD})
    assert response.status_code == 422 and says in unescape(response.text)
    assert account_entries(pg) == [] and pg.execute("SELECT count(*) FROM users").fetchone()[0] == 1


def test_a_direction_override_in_a_username_is_dropped_before_it_is_stored_or_recorded(login, pg):
    """As in every identifier (services/text_rules.py): invisible and
    direction-changing characters are removed, so the account, its entry and
    a login all read "fern"; nothing in the log can reorder what is shown."""
    admin = login("admin", "ann")
    created = admin.submit("/admin/users/new", {"username": "\u202eFern", "role": "hr", "password": PASSWORD,
                                                "confirm": PASSWORD})
    assert created.status_code == 303
    assert [entry[2] for entry in account_entries(pg)] == ["fern"]
    assert "\u202e" not in raw_log(pg) and "\u202e" not in admin.get("/admin/audit.csv").text


@pytest.mark.parametrize("params", [{"actor": "ann\x00"}, {"actor": "\u202eann"}, {"actor": "a" * 300},
                                    {"subject": "account\x00"}, {"subject": "\u202eaccount"},
                                    {"subject": "x" * 300}, {"employee": "\x00" * 300}])
def test_hostile_history_filters_are_never_a_500(login, params):
    """As every filter of the app (tests/web/test_parameters.py): characters
    no one types are dropped, a value is cut at 64 characters, an unknown
    subject shows everything; the page and the CSV answer."""
    admin = login("admin", "ann")
    assert create_fern(admin).status_code == 303
    page = admin.get("/admin/audit", params=params)
    assert page.status_code == 200 and "History of changes" in page.text
    assert "\x00" not in page.text and "\u202e" not in page.text
    assert admin.get("/admin/audit.csv", params=params).status_code == 200


def test_the_history_filters_to_accounts_and_says_what_changed_in_words(login, pg):
    admin = login("admin", "ann")
    assert admin.submit("/employees/new", employee("E1")).status_code == 303
    assert create_fern(admin, role="viewer").status_code == 303
    assert post_action(admin, pg, "fern", "role", {"role": "admin"}).status_code == 303
    assert post_action(admin, pg, "fern", "deactivate").status_code == 303
    assert post_action(admin, pg, "fern", "password", {"password": NEW_PASSWORD,
                                                       "confirm": NEW_PASSWORD}).status_code == 303
    fern = user_id(pg, "fern")

    everything = admin.get("/admin/audit").text
    assert '<option value="account" >Accounts</option>' in everything
    page = admin.get("/admin/audit", params={"subject": "account"})
    assert page.status_code == 200 and '<option value="account" selected>Accounts</option>' in page.text
    text = re.sub(r"\s+", " ", unescape(page.text))
    assert "/employees/E1" not in page.text  # accounts only
    assert text.count(f'<a href="/admin/users/{fern}">fern</a>') == 4
    for words in ("Account created", "Role changed", "Deactivated", "New password set",
                  "<del>Read only</del> <span aria-label=\"changed to\">→</span> <ins>Administrator</ins>",
                  "<del>yes</del> <span aria-label=\"changed to\">→</span> <ins>no</ins>",
                  '<span class="change-field">Password</span>: set'):
        assert words in text, words
    assert NEW_PASSWORD not in page.text
    assert 'href="/admin/audit.csv?subject=account"' in page.text
    # The account's own page has its history; the home page's latest changes name it.
    account = re.sub(r"\s+", " ", admin.get(f"/admin/users/{fern}").text)
    history = account[account.index('id="history"'):]
    assert [w for w in ("New password set", "Deactivated", "Role changed", "Account created") if w in history] \
        == ["New password set", "Deactivated", "Role changed", "Account created"]
    assert f'<a href="/admin/users/{fern}">fern</a>' in admin.get("/").text
    assert admin.get(f"/admin/users/{fern}", params={"history_before": "x"}).status_code == 400


def test_only_admins_read_the_accounts_history(login, pg):
    admin = login("admin", "ann")
    assert create_fern(admin).status_code == 303
    for role in ("hr", "viewer"):
        user = login(role)
        assert user.get("/admin/audit", params={"subject": "account"}).status_code == 403
        assert user.get("/admin/audit.csv", params={"subject": "account"}).status_code == 403
        assert user.get(f"/admin/users/{user_id(pg, 'fern')}").status_code == 403
        assert "fern" not in user.get("/").text


def test_own_password_and_api_tokens_are_recorded_by_name_only(login, pg):
    hana = login("hr", "hana")
    changed = hana.submit("/account/password", {"current_password": PASSWORD, "new_password": NEW_PASSWORD,
                                                "confirm_password": NEW_PASSWORD})
    assert changed.status_code == 303
    hana_id = user_id(pg, "hana")
    assert the_new_entry(pg, 0) == ("account", hana_id, "hana", "update", "password", "hana",
                                    {"password": [None, "set"]})
    made = hana.submit("/account/tokens", {"name": "payroll sync"})
    assert made.status_code == 201
    token = re.search(r"emp_[A-Za-z0-9_-]{43}", made.text).group(0)
    assert the_new_entry(pg, 1)[3:] == ("update", "tokens", "hana", {"api_token": [None, "payroll sync"]})
    token_id = pg.execute("SELECT id FROM api_tokens").fetchone()[0]
    admin = login("admin", "ann")  # an admin revokes it
    page = admin.get("/account/tokens")
    assert admin.post(f"/account/tokens/{token_id}/revoke",
                      {"csrf_token": csrf_token(page.text)}).status_code == 303
    assert the_new_entry(pg, 2) == ("account", hana_id, "hana", "update", "tokens", "ann",
                                    {"api_token": ["payroll sync", None]})
    assert admin.post(f"/account/tokens/{token_id}/revoke",  # already revoked: nothing new
                      {"csrf_token": csrf_token(page.text)}).status_code == 303
    assert len(account_entries(pg)) == 3
    stored = raw_log(pg)
    assert token not in stored and token[4:] not in stored and NEW_PASSWORD not in stored
    text = re.sub(r"\s+", " ", admin.get("/admin/audit", params={"subject": "account"}).text)
    for words in ("Password changed by its owner", "API token created", "API token revoked",
                  '<span class="change-field">API token</span>: payroll sync'):
        assert words in text, words
