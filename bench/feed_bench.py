"""The change feed (GET /api/v1/changes) on a large audit log.

1. starts an embedded PostgreSQL and Valkey (data under bench/out/, removed
   at the end unless --keep), applies the migrations up to 0013;
2. writes --legacy audit entries by SQL (the history before migration
   0014), applies 0014 and times it;
3. writes --entries more audit entries in commits of 1 to 9 entries, and an
   import of --imported employees in batches of 5,000 (one feed row each),
   all by SQL (each synthetic commit gets its own txid far above the real
   ones, so none is ever reused), then VACUUM ANALYZE;
4. times GET /api/v1/changes?limit=1000 through the app (Flask's test
   client: the token check, the view, the JSON; no gunicorn) at several
   positions, --requests times each after 3 untimed ones.

    flock /tmp/bench.lock .venv/bin/python bench/feed_bench.py   # 500,000 + 500,000 entries, 100,000 imported
"""
import argparse
import os
import shutil
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402

from employee_app.devservers import EmbeddedPostgres, EmbeddedValkey  # noqa: E402

SECRET_KEY = "bench-secret-key-not-for-production"
SYNTHETIC_TXID_BASE = 10**15  # far above any transaction id the server will assign
BATCH = 5000


def load_history(conn, legacy: int) -> None:
    conn.execute("""
        INSERT INTO audit_log (at, actor_name, employee_pk, employee_id, action, source, changes)
        SELECT now() - interval '1 second' * (%(n)s - g), 'alice', g, 'E' || g,
               'update', 'edit', jsonb_build_object('phone', jsonb_build_array('+1 555 0' || g, '+1 555 1' || g))
        FROM generate_series(1, %(n)s) g""", {"n": legacy})
    conn.commit()


def load_new(conn, entries: int, imported: int) -> None:
    """Commits of 1 to 9 entries (5 on average), with the import's batches
    spread among them."""
    commits = entries // 5
    conn.execute("ALTER TABLE audit_log DISABLE TRIGGER audit_log_commit_order")
    conn.execute("ALTER TABLE import_feed_batches DISABLE TRIGGER import_feed_batches_commit_order")
    first_seq = conn.execute("SELECT nextval('audit_commit_seq')").fetchone()[0]
    conn.execute("""
        INSERT INTO audit_commits (seq, txid)
        SELECT %(s)s + c, (%(base)s + c)::text::xid8 FROM generate_series(0, %(c)s - 1) c""",
                 {"s": first_seq, "base": SYNTHETIC_TXID_BASE, "c": commits})
    conn.execute("SELECT setval('audit_commit_seq', %s)", (first_seq + commits,))
    # Entry e goes to commit e / 5 (1 to 9 entries per commit by a hash of e).
    conn.execute("""
        INSERT INTO audit_log (txid, actor_name, employee_pk, employee_id, action, source, changes)
        SELECT (%(base)s + least(%(c)s - 1, (e + (hashint4(e) %% 4)) / 5))::text::xid8, 'bob',
               %(n)s + e + 1, 'E' || (%(n)s + e + 1), 'update', 'api',
               jsonb_build_object('status', jsonb_build_array('active', 'on_leave'))
        FROM generate_series(0, %(n)s - 1) e""", {"base": SYNTHETIC_TXID_BASE, "c": commits, "n": entries})
    conn.execute("""
        INSERT INTO employees (employee_id, first_name, last_name, email, import_id, import_row)
        SELECT 'I' || g, 'First' || g, 'Last' || g, 'i' || g || '@example.com', 1, g + 1
        FROM generate_series(1, %(n)s) g""", {"n": imported})
    # Batch b's marker in a commit of its own, spread over the new commits.
    batches = max(1, imported // BATCH)
    conn.execute("""
        INSERT INTO audit_commits (seq, txid)
        SELECT nextval('audit_commit_seq'), (%(base)s + %(c)s + b)::text::xid8 FROM generate_series(0, %(b)s - 1) b""",
                 {"base": SYNTHETIC_TXID_BASE, "c": commits, "b": batches})
    conn.execute("""
        INSERT INTO import_feed_batches (txid, import_id, first_row, last_row)
        SELECT (%(base)s + %(c)s + b)::text::xid8, 1, b * %(size)s + 2, (b + 1) * %(size)s + 1
        FROM generate_series(0, %(b)s - 1) b""",
                 {"base": SYNTHETIC_TXID_BASE, "c": commits, "b": batches, "size": BATCH})
    conn.execute("ALTER TABLE audit_log ENABLE TRIGGER audit_log_commit_order")
    conn.execute("ALTER TABLE import_feed_batches ENABLE TRIGGER import_feed_batches_commit_order")
    conn.commit()


def time_get(client, url: str, token: str, requests: int) -> tuple[float, float, int]:
    headers = {"Authorization": f"Bearer {token}"}
    times, count = [], 0
    for i in range(3 + requests):
        started = time.perf_counter()
        response = client.get(url, headers=headers)
        elapsed = time.perf_counter() - started
        assert response.status_code == 200, response.get_data(as_text=True)[:300]
        count = len(response.get_json()["changes"])
        if i >= 3:
            times.append(elapsed * 1000)
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.95) - 1], count


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--legacy", type=int, default=500_000)
    parser.add_argument("--entries", type=int, default=500_000)
    parser.add_argument("--imported", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()

    run_dir = OUT / f"feed-{int(time.time())}"
    run_dir.mkdir(parents=True)
    postgres = valkey = None
    try:
        postgres = EmbeddedPostgres(run_dir / "pgdata").start()
        postgres.tune_for_tests()
        url = postgres.ensure_database("feed_bench")
        valkey = EmbeddedValkey(run_dir / "valkey", persist=False).start()
        os.environ.update({"DATABASE_URL": url, "VALKEY_URL": valkey.url, "SECRET_KEY": SECRET_KEY})
        from flask_migrate import upgrade

        from employee_app import create_app
        from employee_app.services import api_tokens, change_feed, users

        app = create_app()
        with app.app_context():
            upgrade(revision="0013_api_tokens")
        with psycopg.connect(url) as conn:
            started = time.perf_counter()
            load_history(conn, args.legacy)
            print(f"{args.legacy:,} audit entries before 0014: {time.perf_counter() - started:.1f} s")
        with app.app_context():
            started = time.perf_counter()
            upgrade()
            print(f"migration 0014 on them: {time.perf_counter() - started:.1f} s")
        with psycopg.connect(url) as conn:
            started = time.perf_counter()
            load_new(conn, args.entries, args.imported)
            print(f"{args.entries:,} entries in commits of 1 to 9 and {args.imported:,} imported employees "
                  f"({args.imported // BATCH} batches): {time.perf_counter() - started:.1f} s")
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE")
            total = conn.execute("SELECT count(*) FROM audit_log").fetchone()[0]
            seqs = conn.execute("SELECT min(seq), max(seq) FROM audit_commits").fetchone()
            batch = conn.execute("SELECT c.seq, b.id FROM import_feed_batches b JOIN audit_commits c USING (txid)"
                                 " ORDER BY c.seq LIMIT 1 OFFSET %s", (max(0, args.imported // BATCH // 2),)).fetchone()
        with app.app_context():
            user = users.create_user("bench-admin", "bench horse battery staple", "admin")
            _, token = api_tokens.create_token(user.id, "bench")
        client = app.test_client()
        middle = (seqs[0] + seqs[1]) // 2
        cases = [
            ("from the beginning (the history before 0014, one commit)", None),
            ("in the middle of the history before 0014",
             change_feed.Position(seqs[0], args.legacy // 2).token()),
            ("in the middle of the commits since", change_feed.Position(middle).token()),
            ("inside an import batch (1,000 records expanded)",
             change_feed.Position(batch[0], batch[1], 2 + BATCH * (args.imported // BATCH // 2) + 1000).token()),
            ("at the end (nothing new: the poll)", change_feed.Position(seqs[1] + 1).token()),
        ]
        load = os.getloadavg()
        print(f"audit_log: {total:,} rows; commits {seqs[0]:,} to {seqs[1]:,}; load average {load[0]:.2f}")
        for label, after in cases:
            query = "/api/v1/changes?limit=1000" + (f"&after={after}" if after else "")
            median, p95, count = time_get(client, query, token, args.requests)
            print(f"  {label}: {count} changes, median {median:.1f} ms, p95 {p95:.1f} ms")
        print(f"load average after: {os.getloadavg()[0]:.2f}")
    finally:
        if valkey:
            valkey.stop()
        if postgres:
            postgres.stop()
        if not args.keep:
            shutil.rmtree(run_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
