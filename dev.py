#!/usr/bin/env python3
"""The two commands that matter on a fresh machine with only Python 3.11:

    python3 dev.py serve    run the app on http://127.0.0.1:8000 (PORT=... for another port)
    python3 dev.py test     run the test suite (extra arguments go to pytest)

and one for accounts, from any shell, whether or not `serve` is running:

    python3 dev.py create-user NAME --role admin|hr|viewer

Both create .venv and install requirements-dev.txt when needed (again only
when a requirements file changes). `serve` starts an embedded PostgreSQL and
an embedded Valkey with their data under instance/ (unless DATABASE_URL /
VALKEY_URL name servers to use instead), applies the migrations, creates a
first admin if there is none and prints its login, then runs gunicorn until
Ctrl-C, and stops its servers cleanly.
"""
import hashlib
import os
import secrets
import signal
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
VENV_PYTHON = VENV / "bin" / "python"
REQUIREMENTS = [ROOT / "requirements.txt", ROOT / "requirements-dev.txt"]
INSTANCE = ROOT / "instance"


def ensure_venv() -> None:
    """Create .venv and install the requirements; re-run this script inside it."""
    if not VENV_PYTHON.exists():
        print("Creating .venv ...", flush=True)
        venv.create(VENV, with_pip=True)
    digest = hashlib.sha256(b"".join(p.read_bytes() for p in REQUIREMENTS)).hexdigest()
    stamp = VENV / ".requirements.sha256"
    if not stamp.exists() or stamp.read_text() != digest:
        print("Installing requirements into .venv ...", flush=True)
        subprocess.check_call([str(VENV_PYTHON), "-m", "pip", "install", "--quiet",
                               "--disable-pip-version-check", "-r", str(ROOT / "requirements-dev.txt")])
        stamp.write_text(digest)
    if Path(sys.prefix).resolve() != VENV.resolve():
        os.execv(str(VENV_PYTHON), [str(VENV_PYTHON), str(Path(__file__).resolve()), *sys.argv[1:]])


def secret_key() -> str:
    """SECRET_KEY from the environment, or one generated once for this laptop."""
    if os.environ.get("SECRET_KEY"):
        return os.environ["SECRET_KEY"]
    path = INSTANCE / "secret_key"
    if not path.exists():
        INSTANCE.mkdir(exist_ok=True)
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()


def create_first_admin(env: dict) -> None:
    os.environ.update(env)
    from employee_app import create_app
    from employee_app.services import users

    app = create_app()
    with app.app_context():
        if users.any_admin_exists():
            print("An admin account exists already (its password was printed on the first run).")
            return
        password = secrets.token_urlsafe(12)
        users.create_user("admin", password, "admin")
    print("\n  First admin created.  Username: admin   Password: " + password)
    print("  (Shown once. Add accounts on /admin/users, or from another shell:"
          " python3 dev.py create-user NAME --role hr)\n")


def serve() -> int:
    from employee_app.devservers import EmbeddedPostgres, EmbeddedValkey

    INSTANCE.mkdir(exist_ok=True)
    # Ctrl-C and `kill -INT` stop everything, even when a script started this
    # in the background (which leaves SIGINT ignored); a SIGTERM (e.g. from a
    # process manager) does the same.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    env = dict(os.environ, SECRET_KEY=secret_key())
    postgres = valkey = gunicorn = worker = None
    try:
        if not os.environ.get("DATABASE_URL"):
            postgres = EmbeddedPostgres(INSTANCE / "pgdata").start()
            env["DATABASE_URL"] = postgres.ensure_database("employee_app")
            print(f"PostgreSQL (embedded): data in {INSTANCE / 'pgdata'}")
        if not os.environ.get("VALKEY_URL"):
            valkey = EmbeddedValkey(INSTANCE / "valkey", persist=True).start()
            env["VALKEY_URL"] = valkey.url
            print(f"Valkey (embedded): {valkey.url}, data in {INSTANCE / 'valkey'}")
        flask = [str(VENV / "bin" / "flask"), "--app", "employee_app"]
        subprocess.check_call([*flask, "db", "upgrade"], env=env, cwd=ROOT)
        create_first_admin(env)
        port = os.environ.get("PORT", "8000")
        print(f"Serving on http://127.0.0.1:{port}  (Ctrl-C stops the app and its servers)", flush=True)
        # The import worker: takes uploaded files off the queue on Valkey.
        worker = subprocess.Popen([*flask, "worker"], env=env, cwd=ROOT)
        # The production settings (gunicorn.conf.py: workers from the CPUs,
        # GUNICORN_WORKERS / GUNICORN_THREADS to change them, the access log).
        gunicorn = subprocess.Popen(
            [str(VENV / "bin" / "gunicorn"), "--config", "gunicorn.conf.py",
             "--bind", f"127.0.0.1:{port}", "wsgi:app"],
            env=env, cwd=ROOT,
        )
        return gunicorn.wait()
    except KeyboardInterrupt:
        return 0
    finally:
        # A second Ctrl-C must not cut the shutdown short (the servers would
        # be left running).
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        for process in (gunicorn, worker):
            if process and process.poll() is None:
                process.terminate()
                try:
                    process.wait(15)
                except subprocess.TimeoutExpired:
                    process.kill()
        if valkey:
            valkey.stop()
        if postgres:
            postgres.stop()
        print("Stopped.")


def test(args: list[str]) -> int:
    return subprocess.call([str(VENV_PYTHON), "-m", "pytest", *args], cwd=ROOT)


def create_user(args: list[str]) -> int:
    """`flask create-user` on the laptop's database: the embedded PostgreSQL
    under instance/ (started for the moment if `serve` is not running, and
    left as it was found), or DATABASE_URL."""
    from employee_app.devservers import EmbeddedPostgres

    env = dict(os.environ, SECRET_KEY=secret_key())
    postgres = None
    if not os.environ.get("DATABASE_URL"):
        data = INSTANCE / "pgdata"
        if not data.exists():
            print("There is no database yet: run `python3 dev.py serve` once first.")
            return 1
        running = (data / "postmaster.pid").exists()
        postgres = EmbeddedPostgres(data).start()
        env["DATABASE_URL"] = postgres.ensure_database("employee_app")
        if running:
            postgres = None  # serve's server: leave it running
    try:
        return subprocess.call([str(VENV / "bin" / "flask"), "--app", "employee_app", "create-user", *args],
                               env=env, cwd=ROOT)
    finally:
        if postgres:
            postgres.stop()


COMMANDS = {"serve": lambda args: serve(), "test": test, "create-user": create_user}


def main() -> int:
    command, args = (sys.argv[1], sys.argv[2:]) if len(sys.argv) > 1 else ("", [])
    if command not in COMMANDS:
        print(__doc__)
        return 2
    ensure_venv()
    sys.path.insert(0, str(ROOT))
    return COMMANDS[command](args)


if __name__ == "__main__":
    sys.exit(main())
