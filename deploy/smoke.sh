#!/usr/bin/env bash
# Smoke test of the production container stack, started for real with Podman:
# podman-compose.yml (app, worker, PostgreSQL, Valkey) on stand-in images,
# driven over HTTP as a user would, then torn down (also when a step fails).
#
#   sudo deploy/smoke.sh          (root: it installs podman if missing)
#
# No container registry is reachable where this runs, so the official
# PostgreSQL, Valkey and python images are replaced by stand-ins built from
# Debian 12 packages (mmdebstrap + podman import, deploy/smoke/): PostgreSQL 15
# for the production 18 (Debian 12 has no newer one), redis-server 7.0 for
# Valkey 8, Debian's python3 3.11 for python:3.11-slim. The app image is the
# project's Containerfile, built with `podman build --from` on that base and
# with its Python packages from a wheelhouse made on this host (pip inside a
# build has no access to this machine's package index).
#
# Cached between runs, outside the repository, in SMOKE_CACHE (default
# /var/cache/employee-app-smoke): the Debian tarballs, the wheelhouse (one per
# requirements.txt), a venv with podman-compose; Podman keeps the images and
# their layers. A first run took 6 minutes on 2 busy cores (most of it
# mmdebstrap and podman import), a second one 1.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
CACHE=${SMOKE_CACHE:-/var/cache/employee-app-smoke}
PROJECT=employee-app-smoke
APP_IMAGE=localhost/employee-app:smoke
STAND_IN=localhost/employee-app-smoke
# crun is refused a setrlimit on these machines; runc and no default ulimits work.
export CONTAINERS_CONF="$ROOT/deploy/smoke/containers.conf"

started=$(date +%s)
step() { printf '\n== [%3ss] %s\n' "$(( $(date +%s) - started ))" "$*"; }
ok() { printf '   ok: %s\n' "$*"; }
fail() { printf '   FAILED: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || fail "run as root (it installs packages and runs rootful podman)"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT  # until the stack is up; then teardown() below

# --- host tools ---------------------------------------------------------------------
step "host tools: podman, runc, mmdebstrap, podman-compose"
missing=""
for tool in podman:podman runc:runc mmdebstrap:mmdebstrap curl:curl; do
    command -v "${tool%%:*}" >/dev/null || missing="$missing ${tool##*:}"
done
python3 -c 'import ensurepip' 2>/dev/null || missing="$missing python3-venv"
if [ -n "$missing" ]; then
    echo "   installing:$missing"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
fi
mkdir -p "$CACHE"
# podman-compose (PyPI) in a venv of its own. This venv's Python is the host's
# python3, Debian 12's 3.11.2 as in the stand-in image, so the wheels it makes
# below fit the image.
python3 -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' \
    || fail "the host's python3 is not 3.11 (Debian 12's): the wheelhouse would not fit the image"
if [ ! -x "$CACHE/tools/bin/podman-compose" ]; then
    rm -rf "$CACHE/tools"
    python3 -m venv "$CACHE/tools"
    "$CACHE/tools/bin/pip" install --quiet --disable-pip-version-check podman-compose >"$WORK/pip.log" 2>&1 \
        || { cat "$WORK/pip.log" >&2; fail "pip install podman-compose"; }
fi
compose() {
    "$CACHE/tools/bin/podman-compose" -p "$PROJECT" -f podman-compose.yml -f deploy/compose.smoke.yml "$@"
}
ok "$(podman --version), $("$CACHE/tools/bin/podman-compose" --version 2>/dev/null | head -n1)"

# --- stand-in base images -----------------------------------------------------------------
step "stand-in images from Debian packages (mmdebstrap, cached in $CACHE)"
# name, then the Debian packages of its root file system
declare -A PACKAGES=(
    [python]=python3,python3-venv,ca-certificates,passwd
    [postgres]=postgresql
    [valkey]=redis-server
)
pids=()
for name in "${!PACKAGES[@]}"; do
    tarball="$CACHE/rootfs-$name.tar"
    [ -s "$tarball" ] && continue
    echo "   mmdebstrap $name: ${PACKAGES[$name]}"
    # .part.tar, not .tar.part: mmdebstrap picks its output format by the name.
    (mmdebstrap --quiet --variant=apt --include="${PACKAGES[$name]}" bookworm "$tarball.part.tar" \
        >"$WORK/mmdebstrap-$name.log" 2>&1 && mv "$tarball.part.tar" "$tarball") &
    pids+=("$!:$name")
done
for entry in "${pids[@]}"; do
    wait "${entry%%:*}" || { cat "$WORK/mmdebstrap-${entry#*:}.log" >&2; fail "mmdebstrap ${entry#*:}"; }
done
for name in "${!PACKAGES[@]}"; do
    tarball="$CACHE/rootfs-$name.tar"
    # Imported again when the tarball is newer than the last import (a rebuilt cache).
    if ! podman image exists "$STAND_IN/rootfs-$name" || [ "$tarball" -nt "$tarball.imported" ]; then
        podman import --quiet "$tarball" "$STAND_IN/rootfs-$name" >/dev/null
        touch "$tarball.imported"
    fi
done
podman build --quiet -f deploy/smoke/python.Containerfile -t "$STAND_IN/python:3.11" deploy/smoke >/dev/null
podman build --quiet -f deploy/smoke/postgres.Containerfile -t "$STAND_IN/postgres:15" deploy/smoke >/dev/null
podman build --quiet -f deploy/smoke/valkey.Containerfile -t "$STAND_IN/valkey:7" deploy/smoke >/dev/null
ok "$STAND_IN/python:3.11, $STAND_IN/postgres:15, $STAND_IN/valkey:7"

# --- the app image ----------------------------------------------------------------------------
step "wheelhouse for requirements.txt (built on the host, cached)"
wheels="$CACHE/wheels/$(sha256sum requirements.txt | cut -c1-16)"
if [ ! -d "$wheels" ]; then
    rm -rf "$wheels.part"
    # async-timeout: valkey needs it on Python < 3.11.3, as the image's 3.11.2 is.
    "$CACHE/tools/bin/pip" wheel --quiet --disable-pip-version-check -r requirements.txt async-timeout \
        -w "$wheels.part" >"$WORK/wheels.log" 2>&1 || { cat "$WORK/wheels.log" >&2; fail "pip wheel"; }
    mv "$wheels.part" "$wheels"
fi
ok "$(ls "$wheels" | wc -l) wheels in $wheels"

step "app image: podman build --from $STAND_IN/python:3.11, offline from the wheelhouse"
podman build --quiet --format docker --from "$STAND_IN/python:3.11" \
    --volume "$wheels:/wheels:ro" --build-arg WHEELHOUSE=/wheels \
    -f Containerfile -t "$APP_IMAGE" . >/dev/null
ok "$APP_IMAGE"

# --- the stack --------------------------------------------------------------------------------
container() {  # the container of a compose service
    podman ps -a --filter "label=io.podman.compose.project=$PROJECT" \
        --filter "label=com.docker.compose.service=$1" --format '{{.Names}}' | head -n1
}
teardown() {
    status=$?
    if [ "$status" -ne 0 ]; then
        echo "== the stack's last log lines, after the failure:" >&2
        for service in postgres valkey app worker; do
            name=$(container "$service") || true
            [ -n "$name" ] && { echo "--- $service" >&2; podman logs --tail 40 "$name" >&2 2>&1 || true; }
        done
    fi
    echo "== teardown: podman-compose down, volumes removed"
    compose down -v >/dev/null 2>&1 || true
    rm -rf "$WORK"
    [ "$status" -eq 0 ] && printf '\nSMOKE TEST PASSED in %ss\n' "$(( $(date +%s) - started ))" \
        || printf '\nSMOKE TEST FAILED (exit %s)\n' "$status" >&2
    exit "$status"
}
trap teardown EXIT

step "podman-compose up: postgres, valkey, app, worker"
compose down -v >/dev/null 2>&1 || true  # what an interrupted run left
SECRET_KEY=$(python3 -c 'import secrets; print(secrets.token_hex(32))')
POSTGRES_PASSWORD=$(python3 -c 'import secrets; print(secrets.token_hex(24))')
# PostgreSQL sized for a smoke test, not for a million employees.
POSTGRES_SHARED_BUFFERS=128MB POSTGRES_MAINTENANCE_WORK_MEM=64MB
export SECRET_KEY POSTGRES_PASSWORD POSTGRES_SHARED_BUFFERS POSTGRES_MAINTENANCE_WORK_MEM
compose up -d --no-build >"$WORK/up.log" 2>&1 || { cat "$WORK/up.log" >&2; fail "podman-compose up"; }

wait_healthy() {  # run each service's health check until it passes
    # Podman runs health checks from systemd timers, which a machine without
    # systemd lacks: run them here, as the timers would.
    local service name deadline=$(( $(date +%s) + 180 ))
    for service in "$@"; do
        name=$(container "$service")
        [ -n "$name" ] || fail "no container for $service"
        until podman healthcheck run "$name" >/dev/null 2>&1; do
            [ "$(podman inspect --format '{{.State.Running}}' "$name")" = true ] || fail "$service is not running"
            [ "$(date +%s)" -lt "$deadline" ] || fail "$service not healthy after 180 s"
            sleep 2
        done
        ok "$service healthy"
    done
}
step "health checks"
wait_healthy postgres valkey app worker
APP=$(container app) WORKER=$(container worker) PG=$(container postgres) VALKEY=$(container valkey)
locate_app() {
    # From the host to the app's address on the compose network (rootful podman
    # routes it): no free port needed on the host. A restart may change the
    # address, so requests go to a fixed name (the session cookie's host)
    # that http() resolves to the current one.
    APP_IP=$(podman inspect --format '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' "$APP")
}
http() { curl --resolve "app.smoke:8000:$APP_IP" "$@"; }
BASE=http://app.smoke:8000
locate_app
health=$(http -fsS "$BASE/healthz")
[[ "$health" == *'"status":"ok"'* ]] || fail "/healthz says $health"
ok "/healthz: $health"

# --- as a user ----------------------------------------------------------------------------------
psql() { podman exec "$PG" psql -U employee_app -d employee_app -tAc "$1"; }
JAR="$WORK/cookies"
csrf_of() {  # the CSRF token of the form at a path (the session cookie kept in $JAR)
    local page
    page=$(http -fsS -b "$JAR" -c "$JAR" "$BASE$1")  # whole, not piped: no reader may stop early
    sed -n 's/.*name="csrf_token"[^>]*value="\([^"]*\)".*/\1/p' <<<"$page" | sed -n 1p
}
submit() {  # submit PATH CURL-ARGS...: POST to a form with its token; prints the status
    local path=$1 token
    shift
    token=$(csrf_of "$path")
    [ -n "$token" ] || fail "no CSRF token on $path"
    http -sS -o "$WORK/response.html" -D "$WORK/headers" -w '%{http_code}' -b "$JAR" -c "$JAR" \
        "$@" --form-string "csrf_token=$token" "$BASE$path"
}
expect() {  # expect STATUS GOT WHAT
    [ "$2" = "$1" ] || { head -c 2000 "$WORK/response.html" >&2; fail "$3: HTTP $2, expected $1"; }
    ok "$3: HTTP $2"
}
add_employee() {  # employee ID, e-mail
    submit /employees/new --form-string "employee_id=$1" --form-string first_name=Ada \
        --form-string last_name=Lovelace --form-string "email=$2" --form-string department=Engineering \
        --form-string job_title=Analyst --form-string employment_type=full_time \
        --form-string location=London --form-string hire_date=2024-03-01 --form-string status=active
}

step "first admin, created with the CLI inside the app container"
ADMIN_PASSWORD=$(python3 -c 'import secrets; print(secrets.token_hex(12))')
printf '%s\n' "$ADMIN_PASSWORD" | podman exec -i "$APP" flask --app employee_app create-user smoke-admin \
    --role admin --password-stdin
expect 303 "$(submit /login --form-string username=smoke-admin --form-string "password=$ADMIN_PASSWORD")" \
    "log in as smoke-admin"

step "add an employee through the form; the duplicate guard"
expect 303 "$(add_employee SMK0001 ada.smoke@example.com)" "add SMK0001"
expect 409 "$(add_employee SMK0001 other.smoke@example.com)" "the same employee ID again"
expect 409 "$(add_employee SMK0099 ada.smoke@example.com)" "the same e-mail under another ID"

step "import a file through the worker"
printf '%s\n' employee_id,first_name,last_name,email,department,hire_date \
    SMK0002,Grace,Hopper,grace.smoke@example.com,Engineering,2024-01-02 \
    SMK0003,Alan,Turing,alan.smoke@example.com,Research,2024-01-03 \
    SMK0001,Ada,Again,ada.again@example.com,Engineering,2024-01-04 >"$WORK/staff.csv"
expect 303 "$(submit /imports/new --form-string mode=valid_rows -F "file=@$WORK/staff.csv;type=text/csv")" \
    "upload staff.csv"
import_path=$(sed -n 's/^[Ll]ocation: *\(\/imports\/[0-9]*\).*/\1/p' "$WORK/headers" | tr -d '\r')
import_id=${import_path##*/}
[ -n "$import_id" ] || fail "no import page in the upload's redirect"
deadline=$(( $(date +%s) + 120 ))
until [ "$(psql "SELECT status FROM imports WHERE id = $import_id")" = done ]; do
    [ "$(date +%s)" -lt "$deadline" ] || fail "import $import_id: $(psql "SELECT status FROM imports WHERE id = $import_id") after 120 s"
    sleep 1
done
counts=$(psql "SELECT rows_read, inserted, duplicates, invalid FROM imports WHERE id = $import_id")
[ "$counts" = "3|2|1|0" ] || fail "import $import_id counted rows|inserted|duplicates|invalid = $counts, expected 3|2|1|0"
ok "import $import_id done by the worker: 3 rows, 2 inserted, 1 duplicate (SMK0001), 0 invalid"
import_page=$(http -fsS -b "$JAR" "$BASE$import_path")
grep -q "2 of 3 rows imported" <<<"$import_page" || fail "the import page does not say 2 of 3 rows imported"
ok "the import page says: 2 of 3 rows imported"

check_employees() {
    [ "$(psql "SELECT string_agg(employee_id, ',' ORDER BY employee_id) FROM employees")" = SMK0001,SMK0002,SMK0003 ] \
        || fail "stored employees: $(psql "SELECT string_agg(employee_id, ',') FROM employees")"
    ok "PostgreSQL holds SMK0001, SMK0002, SMK0003 and no other"
}
check_index() {
    for id in SMK0001 SMK0002 SMK0003; do
        [ "$(podman exec "$VALKEY" valkey-cli SISMEMBER employees:ids "$id")" = 1 ] || fail "$id is not in Valkey's index"
    done
    ok "Valkey's index (employees:ids) holds the three IDs"
}
check_employees
check_index

# --- restarts -----------------------------------------------------------------------------------
# Valkey restarts while the app is stopped, so that the index found afterwards
# is the one Valkey kept on its volume (appendonly), not one the app rebuilt.
step "restart: the app stopped, Valkey restarted, the app started again"
compose stop app >"$WORK/restart.log" 2>&1 || { cat "$WORK/restart.log" >&2; fail "podman-compose stop app"; }
compose restart valkey >"$WORK/restart.log" 2>&1 || { cat "$WORK/restart.log" >&2; fail "podman-compose restart valkey"; }
wait_healthy valkey
check_index
compose start app >"$WORK/restart.log" 2>&1 || { cat "$WORK/restart.log" >&2; fail "podman-compose start app"; }
wait_healthy app
locate_app
check_employees
page=$(http -sS -o /dev/null -w '%{http_code}' -b "$JAR" "$BASE/employees/SMK0002")
expect 200 "$page" "the session and SMK0002's page after the restart"
expect 409 "$(add_employee SMK0002 new.smoke@example.com)" "the imported ID SMK0002 again, after the restart"

# --- the image's user ---------------------------------------------------------------------------
step "non-root: the uploads volume is writable, the code is not"
for name in "$APP" "$WORKER"; do
    uid=$(podman exec "$name" id -u)
    [ "$uid" != 0 ] || fail "$name runs as root"
    ok "$name runs as uid $uid"
done
podman exec "$APP" sh -c 'f=/app/uploads/.smoke-write && touch "$f" && rm "$f"' || fail "the app cannot write /app/uploads"
ok "the app user writes /app/uploads"
for path in /app/employee_app/.smoke-write /app/.smoke-write; do
    if podman exec "$APP" sh -c "touch $path" 2>/dev/null; then fail "the app user could write $path"; fi
done
if podman exec "$APP" sh -c 'echo >> /app/wsgi.py' 2>/dev/null; then fail "the app user could change /app/wsgi.py"; fi
ok "the app user cannot write /app, /app/employee_app or /app/wsgi.py"
