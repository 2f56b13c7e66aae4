#!/bin/sh
# Container entrypoint: check the configuration, wait for PostgreSQL, apply
# the migrations, then exec the command (gunicorn by default; see Containerfile).
#
#   SECRET_KEY       required (the app refuses to start without it)
#   DATABASE_URL     required: postgres://, postgresql:// or postgresql+psycopg://
#   DB_WAIT_SECONDS  how long to wait for PostgreSQL to answer (default 60)
#   SKIP_MIGRATIONS  1 = do not run `flask db upgrade` (workers, extra replicas): wait
#                    instead, up to DB_WAIT_SECONDS, until another instance has
#                    brought the schema to this code's migrations
set -eu

fail() {
    echo "entrypoint: $*" >&2
    exit 1
}

# Fail here, with a clear message, rather than in a gunicorn worker traceback.
[ -n "${SECRET_KEY:-}" ] || fail "SECRET_KEY is not set: pass a long random value (e.g. openssl rand -hex 32)."
[ -n "${DATABASE_URL:-}" ] || fail "DATABASE_URL is not set (postgresql://USER:PASSWORD@HOST:5432/DATABASE)."

DB_WAIT_SECONDS="${DB_WAIT_SECONDS:-60}"
export DB_WAIT_SECONDS  # read by the Python below
case "$DB_WAIT_SECONDS" in
    '' | *[!0-9]*) fail "DB_WAIT_SECONDS must be a whole number of seconds, not '$DB_WAIT_SECONDS'." ;;
esac

# On a fresh `compose up` PostgreSQL may still be initialising (or restarting
# after its init scripts), so retry until it accepts a connection. The loop is
# in Python because psycopg is what the app uses: no pg_isready in this image.
# The error printed is psycopg's, which never includes the password.
echo "entrypoint: waiting up to ${DB_WAIT_SECONDS}s for PostgreSQL ..."
status=0
python - <<'PY' || status=$?
import os, re, sys, time
import psycopg

# psycopg takes postgres:// and postgresql:// URLs, but not SQLAlchemy's
# driver-qualified postgresql+psycopg:// form that the app also accepts.
url = re.sub(r"^(postgres(?:ql)?)\+psycopg://", r"\1://", os.environ["DATABASE_URL"])
deadline = time.monotonic() + int(os.environ["DB_WAIT_SECONDS"])
while True:
    try:
        # Bounded so an unreachable host cannot hold the loop past the deadline.
        timeout = max(1, min(5, int(deadline - time.monotonic())))
        psycopg.connect(url, connect_timeout=timeout).close()
        sys.exit(0)
    except psycopg.OperationalError as error:  # not up yet, unreachable, refused
        last = " ".join(str(error).split())
    except psycopg.Error as error:  # a malformed URL: waiting will not help
        print(f"entrypoint: DATABASE_URL is not a usable PostgreSQL URL: {error}", file=sys.stderr)
        sys.exit(1)
    if time.monotonic() >= deadline:
        print(f"entrypoint: last error: {last}", file=sys.stderr)
        sys.exit(3)  # timed out; any other failure exits 1
    time.sleep(1)
PY
case "$status" in
    0) ;;
    3) fail "PostgreSQL did not answer within ${DB_WAIT_SECONDS}s; check DATABASE_URL and that the database server is running." ;;
    *) fail "could not check the database connection (see above)." ;;
esac

if [ "${SKIP_MIGRATIONS:-0}" = "1" ]; then
    # Compose's depends_on (worker after a healthy app) is not enforced by every
    # engine (podman-compose ignores it with podman < 4.6), and a replica may
    # start during an upgrade: do not run on a schema older than the code.
    echo "entrypoint: SKIP_MIGRATIONS=1, waiting for the migrations to be applied elsewhere ..."
    status=0
    MIGRATIONS_DIR="$(dirname "$0")/../migrations" python - <<'PY' || status=$?
import os, re, sys, time
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import create_engine

script = ScriptDirectory(os.environ["MIGRATIONS_DIR"])
heads = set(script.get_heads())
url = re.sub(r"^(postgres(?:ql)?)(\+psycopg)?://", "postgresql+psycopg://", os.environ["DATABASE_URL"])
engine = create_engine(url)
deadline = time.monotonic() + int(os.environ["DB_WAIT_SECONDS"])
while True:
    with engine.connect() as conn:
        current = set(MigrationContext.configure(conn).get_current_heads())
    if current == heads:
        sys.exit(0)
    try:
        for revision in current:
            script.get_revision(revision)
    except CommandError:  # a revision this code does not know: a newer release migrated
        print(f"entrypoint: the database is at {sorted(current)}, newer than this code's {sorted(heads)}")
        sys.exit(0)
    if time.monotonic() >= deadline:
        print(f"entrypoint: the database is at {sorted(current) or 'no migration'}, this code needs {sorted(heads)}",
              file=sys.stderr)
        sys.exit(3)
    time.sleep(1)
PY
    case "$status" in
        0) ;;
        3) fail "the migrations were not applied within ${DB_WAIT_SECONDS}s: start the app service (it migrates) or run 'flask --app employee_app db upgrade'." ;;
        *) fail "could not read the database's migration state (see above)." ;;
    esac
else
    echo "entrypoint: applying migrations ..."
    flask --app employee_app db upgrade
fi

exec "$@"
