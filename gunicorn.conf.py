"""gunicorn's settings for employee_app.

gunicorn reads ./gunicorn.conf.py from the directory it starts in (the
repository, /app in the image), so `gunicorn --bind ... wsgi:app` uses this;
command-line options override it. The bind address stays on the command
line (the image, dev.py serve and the tests each choose their own).
"""
import glob
import os
import tempfile


def _count(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or int(raw) < 1:
        raise SystemExit(f"{name}={raw!r}: use a whole number of at least 1.")
    return int(raw)


def _cpus() -> int:
    """The CPUs this process may run on (a container's share, where pinned)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


# One process per CPU works the CPUs (Python runs one thread at a time in a
# process); threads cover the waits on PostgreSQL and Valkey. Each busy
# thread holds a PostgreSQL connection: 8 processes x 4 threads stays well
# within PostgreSQL's 100 connections, with room for the import workers.
# Past 8 CPUs, run another instance (docs/operations.md).
worker_class = "gthread"
workers = _count("GUNICORN_WORKERS", max(2, min(_cpus(), 8)))
threads = _count("GUNICORN_THREADS", 4)

# A worker process that stops answering gunicorn's heartbeat for 2 minutes is
# replaced. (With threads, a long request, e.g. a 100 MB upload over a slow
# link, does not stop the heartbeat: only a stuck process does.)
timeout = 120
# On SIGTERM (a deploy, podman stop), requests under way get this long to
# finish, uploads included, before the workers are stopped. The container's
# stop timeout must be longer (podman-compose.yml: stop_grace_period).
graceful_timeout = 90
# Idle keep-alive connections are closed after this long.
keepalive = 5
# The workers' heartbeat files in memory: a container's overlay disk can stall.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None
# Its default path (under $HOME) is one per user, shared by every gunicorn
# of that user on the machine; nothing here uses it.
control_socket_disable = True

# The access log: the path without its query string and no referrer, since a
# search's query quotes names and e-mail addresses; the request id the app
# returned (X-Request-ID), as in the app's own lines for the request.
accesslog = "-"
errorlog = "-"
access_log_format = '%(h)s "%(m)s %(U)s" %(s)s %(B)s %(M)sms request_id=%({x-request-id}o)s "%(a)s"'

if os.environ.get("LOG_FORMAT", "").strip().lower() == "json":
    # gunicorn's own lines as JSON too, one object a line (employee_app/logs.py).
    logconfig_dict = {
        "version": 1,
        "disable_existing_loggers": False,
        "root": {"level": "WARNING", "handlers": ["app"]},
        "loggers": {
            "gunicorn.error": {"handlers": ["app"], "propagate": False},
            "gunicorn.access": {"level": "INFO", "handlers": ["access"], "propagate": False},
        },
        "handlers": {
            "app": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"},
            "access": {"class": "logging.StreamHandler", "formatter": "access", "stream": "ext://sys.stdout"},
        },
        "formatters": {
            "json": {"()": "employee_app.logs.PrivateJsonFormatter"},
            "access": {"()": "employee_app.logs.AccessJsonFormatter"},
        },
    }

# Prometheus (employee_app/metrics.py): every worker writes its counts to
# files in this directory and a scrape adds them up. Set before any worker
# imports prometheus_client; a private one when the operator gives none.
METRICS_DIR_PREFIX = os.path.join(tempfile.gettempdir(), "employee-app-metrics-")
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix=os.path.basename(METRICS_DIR_PREFIX))
os.makedirs(os.environ["PROMETHEUS_MULTIPROC_DIR"], exist_ok=True)  # e.g. a tmpfs path given


def on_starting(server):
    """Counts left by an earlier run would be added to this one's."""
    for path in glob.glob(os.path.join(os.environ["PROMETHEUS_MULTIPROC_DIR"], "*.db")):
        os.remove(path)


def child_exit(server, worker):
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    path = os.environ["PROMETHEUS_MULTIPROC_DIR"]
    if path.startswith(METRICS_DIR_PREFIX):  # the private one made above
        import shutil

        shutil.rmtree(path, ignore_errors=True)
