"""Backup and restore as the operations guide says: pg_dump -Fc of the
suite's database, pg_restore into a fresh database on the same server, the
app served by gunicorn on it (with an empty Valkey database, as a new site
has), and the records, the accounts, the history and the duplicate guard all
work there."""
import re
import subprocess

import psycopg
import pytest
import valkey as valkey_lib

from employee_app.services.duplicate_guard import IDS_KEY, READY_KEY

from ..conftest import gunicorn_serving
from ..helpers import PASSWORD, HttpClient, employee, wait_for

RESTORED = "employee_app_restored"


def major(version_text: str) -> int:
    return int(re.search(r"(\d+)\.\d+", version_text).group(1))


@pytest.fixture
def restored_database(postgres_server, pg):
    """A fresh database on the suite's server, dropped afterwards."""
    if postgres_server is None:
        pytest.skip("TEST_DATABASE_URL names a server whose client programs this suite does not have")
    pg.execute(f'DROP DATABASE IF EXISTS "{RESTORED}" WITH (FORCE)')
    pg.execute(f'CREATE DATABASE "{RESTORED}"')
    yield postgres_server.url(RESTORED)
    pg.execute(f'DROP DATABASE IF EXISTS "{RESTORED}" WITH (FORCE)')


def test_a_dump_restored_into_a_fresh_database_serves_everything(login, pg, postgres_server, database_url,
                                                                  restored_database, app_env, valkey_server,
                                                                  tmp_path):
    hr = login("hr")
    for employee_id in ("E1", "E2"):
        assert hr.submit("/employees/new", employee(employee_id, email=f"{employee_id.lower()}@example.com"))\
            .status_code == 303
    login("admin")  # a second account, to log in with after the restore

    pg_dump, pg_restore = postgres_server.bin("pg_dump"), postgres_server.bin("pg_restore")
    server_major = int(pg.execute("SHOW server_version_num").fetchone()[0]) // 10000
    for program in (pg_dump, pg_restore):  # a dump is read by the same major version that wrote it
        assert major(subprocess.run([program, "--version"], capture_output=True, text=True).stdout) == server_major
    dump = tmp_path / "employee_app.dump"
    subprocess.run([pg_dump, "--format=custom", "--file", str(dump), "--dbname", database_url], check=True)
    subprocess.run([pg_restore, "--no-owner", "--exit-on-error", "--dbname", restored_database, str(dump)],
                   check=True)

    fresh_valkey = valkey_server.url.rsplit("/", 1)[0] + "/1"  # an empty Valkey database: the index rebuilds
    env = dict(app_env, DATABASE_URL=restored_database, VALKEY_URL=fresh_valkey)
    with gunicorn_serving(env) as restored_url:
        ready = HttpClient(restored_url).get("/readyz")
        assert ready.status_code == 200 and ready.json()["migrations"] == "ok"
        admin = HttpClient(restored_url)
        admin.login("admin-user", PASSWORD)  # the accounts came with the dump
        record = admin.get("/employees/E2")
        assert record.status_code == 200 and "e2@example.com" in record.text
        history = admin.get("/admin/audit")
        assert history.status_code == 200
        assert history.text.count('href="/employees/E1"') >= 1 and 'href="/employees/E2"' in history.text
        assert "hr-user" in history.text

        refused = admin.submit("/employees/new", employee("e1"))  # the guard, on the restored data
        assert refused.status_code == 409 and "already exists" in refused.text
        refused_email = admin.submit("/employees/new", employee("E9", email="E2@example.com"))
        assert refused_email.status_code == 409
        assert admin.submit("/employees/new", employee("E3")).status_code == 303

        index = valkey_lib.Valkey.from_url(fresh_valkey, decode_responses=True)
        wait_for(lambda: index.exists(READY_KEY) and index.sismember(IDS_KEY, "E1") and index.sismember(IDS_KEY, "E3"))
        assert admin.submit("/employees/new", employee("E3")).status_code == 409
        index.flushdb()
        index.close()
    with psycopg.connect(restored_database) as conn:
        assert [r[0] for r in conn.execute("SELECT employee_id FROM employees ORDER BY 1")] == ["E1", "E2", "E3"]
    assert [r[0] for r in pg.execute("SELECT employee_id FROM employees ORDER BY 1")] == ["E1", "E2"]
