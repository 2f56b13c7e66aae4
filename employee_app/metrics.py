"""Prometheus metrics (prometheus_client), served on /metrics behind a token.

Counted where they happen, in each process: requests and their latency per
Flask endpoint (never the raw path, so the label set stays bounded), method
and status; duplicates refused by the form and the edit; Valkey fallbacks
(a call that went to PostgreSQL alone); login lockouts. Under gunicorn every
worker writes its counts to PROMETHEUS_MULTIPROC_DIR (gunicorn.conf.py
makes one), and a scrape, answered by any worker, adds up all of them.

Read at scrape time, from where they are true whichever process or host
did the work: import rows by outcome and the duplicates imports refused
(the imports table: the workers commit their counts there batch by batch,
and may run on other machines), and the length of the import queue (Valkey).
"""
import os

from flask import current_app
from prometheus_client import REGISTRY, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from .extensions import db

# Up to a minute: an upload of a large file is one request.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

REQUEST_SECONDS = Histogram(
    "employee_app_http_request_duration_seconds",
    "Requests and their latency, by Flask endpoint (unmatched: no route), method and status.",
    ["endpoint", "method", "status"], buckets=LATENCY_BUCKETS)
DUPLICATES_HELP = "Records refused because their employee ID or e-mail is taken, by path (form, edit, import)."
DUPLICATES_REFUSED = Counter("employee_app_duplicates_refused_total", DUPLICATES_HELP, ["path"])
VALKEY_FALLBACKS = Counter(
    "employee_app_valkey_fallbacks_total",
    "Valkey calls that fell back to PostgreSQL alone: unreachable (down or hung), refused (an error "
    "reply), skipped (Valkey failed less than a second ago).",
    ["reason"])
LOGIN_LOCKOUTS = Counter(
    "employee_app_login_lockouts_total",
    "Login attempts refused by the throttle (429), by lock: username, device, address.",
    ["lock"])

# Every series exists from the start, at 0, so that rate() sees the first one.
for _path in ("form", "edit"):
    DUPLICATES_REFUSED.labels(_path)
for _reason in ("unreachable", "refused", "skipped"):
    VALKEY_FALLBACKS.labels(_reason)
for _lock in ("username", "device", "address"):
    LOGIN_LOCKOUTS.labels(_lock)

DUPLICATES_FAMILY = "employee_app_duplicates_refused"
IMPORT_OUTCOMES = ("inserted", "updated", "duplicate", "invalid")
# Rows written or refused by imports; a dry run writes nothing and is left
# out, and so are the rows an all-or-nothing import would have written.
IMPORT_ROWS_SQL = text("""
    SELECT coalesce(sum(inserted) FILTER (WHERE mode = 'valid_rows' OR status = 'done'), 0),
           coalesce(sum(updated) FILTER (WHERE mode = 'valid_rows' OR status = 'done'), 0),
           coalesce(sum(duplicates), 0), coalesce(sum(invalid), 0)
    FROM imports WHERE mode <> 'dry_run'""")


def observe_request(endpoint: str | None, method: str, status: int, seconds: float) -> None:
    REQUEST_SECONDS.labels(endpoint or "unmatched", method if method in METHODS else "other",
                           str(status)).observe(seconds)


def duplicate_refused(path: str) -> None:
    DUPLICATES_REFUSED.labels(path).inc()


def valkey_fallback(reason: str) -> None:
    VALKEY_FALLBACKS.labels(reason).inc()


def login_locked(lock: str) -> None:
    LOGIN_LOCKOUTS.labels(lock).inc()


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


class Scrape:
    """What one scrape answers: the counts of every process (the multiprocess
    files, or this process's registry), plus the figures read now."""

    def collect(self):
        import_rows = _import_rows()
        families = _process_families()
        duplicates = next((f for f in families if f.name == DUPLICATES_FAMILY), None)
        if duplicates is None:
            duplicates = CounterMetricFamily(DUPLICATES_FAMILY, DUPLICATES_HELP, labels=["path"])
            families.append(duplicates)
        if import_rows is not None:
            duplicates.add_sample(DUPLICATES_FAMILY + "_total", {"path": "import"}, import_rows["duplicate"])
            rows = CounterMetricFamily("employee_app_import_rows", "Rows imports wrote or refused, by outcome "
                                       "(dry runs left out).", labels=["outcome"])
            for outcome in IMPORT_OUTCOMES:
                rows.add_metric([outcome], import_rows[outcome])
            families.append(rows)
        queued = _queue_length()
        if queued is not None:
            families.append(GaugeMetricFamily("employee_app_import_queue_length",
                                              "Imports waiting in the queue for a worker.", value=queued))
        return families


def _process_families() -> list:
    path = multiprocess_dir()
    if path:
        from prometheus_client.multiprocess import MultiProcessCollector

        return list(MultiProcessCollector(None, path).collect())
    return list(REGISTRY.collect())


def _import_rows() -> dict[str, int] | None:
    """None when PostgreSQL does not answer: the scrape goes on without."""
    try:
        row = db.session.execute(IMPORT_ROWS_SQL).one()
        db.session.rollback()  # nothing held open between scrapes
    except SQLAlchemyError:
        db.session.rollback()
        current_app.logger.warning("metrics: import rows not read (PostgreSQL did not answer)")
        return None
    return dict(zip(IMPORT_OUTCOMES, map(int, row)))


def _queue_length() -> int | None:
    """None when Valkey does not answer (counted as a fallback)."""
    from .services.importer.jobs import QUEUE_NAME
    from .valkey_store import ValkeyUnavailable, get_store

    try:
        return get_store().run(lambda client: client.llen(f"rq:queue:{QUEUE_NAME}"))
    except ValkeyUnavailable:
        return None
