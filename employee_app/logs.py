"""Logging without personal data.

A database error's message quotes the values it refused ("Key (email)=(…)
already exists", "Failing row contains (…)"), a Valkey pipeline error quotes
the whole command (every e-mail of a batch), and a traceback ends with that
message. The formatter here writes tracebacks as usual but replaces each
such message with what the error is: a database error's kind, SQLSTATE,
table and constraint (services/db_errors.describe), a Valkey error's class.
SQLAlchemy is told to leave statement parameters out of its errors
(hide_parameters, config.py).

LOG_FORMAT=json writes one JSON object per line (python-json-logger) with
the same private tracebacks; either way a line written while a request (or
an import's run in the worker) is under way carries its request id
(request_ids.py).
"""
import logging
import os
import traceback

import redis.exceptions
import valkey.exceptions
from pythonjsonlogger.json import JsonFormatter

from . import request_ids
from .services import db_errors

VALKEY_CLIENT_ERRORS = (valkey.exceptions.ValkeyError, redis.exceptions.RedisError)

LOG_FORMAT = "%(asctime)s %(levelname)s [%(name)s] %(message)s%(request_tag)s"
LOG_FORMATS = ("text", "json")


class PrivateFormatter(logging.Formatter):
    """Text lines: `time LEVEL [logger] message request_id=...`."""

    def __init__(self, fmt: str = LOG_FORMAT, *args, **kwargs):
        super().__init__(fmt, *args, **kwargs)

    def format(self, record: logging.LogRecord) -> str:
        request_id = request_ids.current()
        record.request_tag = f" request_id={request_id}" if request_id else ""
        return super().format(record)

    def formatException(self, exc_info) -> str:
        return private_exception(exc_info)


class PrivateJsonFormatter(JsonFormatter):
    """One JSON object a line: time (UTC, ISO 8601), level, logger, message,
    request_id when there is one, exc_info (the private traceback)."""

    def __init__(self, *args, **kwargs):
        super().__init__("%(levelname)s %(name)s %(message)s", *args,
                         rename_fields={"levelname": "level", "name": "logger"}, timestamp="time", **kwargs)

    def add_fields(self, log_data: dict, record: logging.LogRecord, message_dict: dict) -> None:
        super().add_fields(log_data, record, message_dict)
        request_id = request_ids.current()
        if request_id:
            log_data["request_id"] = request_id

    def formatException(self, exc_info) -> str:
        return private_exception(exc_info)


# gunicorn's access log atoms (gunicorn.conf.py's access_log_format) -> JSON keys.
ACCESS_FIELDS = {"h": "remote_addr", "m": "method", "U": "path", "s": "status", "B": "bytes",
                 "M": "duration_ms", "{x-request-id}o": "request_id"}


class AccessJsonFormatter(PrivateJsonFormatter):
    """gunicorn's access log as JSON: the line, and its parts as fields. The
    request id is the response's X-Request-ID (the access line is written
    after the app has finished with the request)."""

    def add_fields(self, log_data: dict, record: logging.LogRecord, message_dict: dict) -> None:
        super().add_fields(log_data, record, message_dict)
        atoms = record.args if isinstance(record.args, dict) else {}
        for atom, key in ACCESS_FIELDS.items():
            if atoms.get(atom, "-") != "-":
                log_data[key] = atoms[atom]


def private_exception(exc_info) -> str:
    return "".join(private_traceback(exc_info[1])).rstrip("\n")


def private_traceback(error: BaseException) -> list[str]:
    """traceback.format_exception's lines, each database error's message
    replaced by what it is (never the values it quotes)."""
    lines: list[str] = []
    cause = error.__cause__ or (None if error.__suppress_context__ else error.__context__)
    if cause is not None:
        lines += private_traceback(cause)
        lines.append("\nThe above exception was the direct cause of the following exception:\n\n"
                     if error.__cause__ is not None else
                     "\nDuring handling of the above exception, another exception occurred:\n\n")
    if error.__traceback__ is not None:
        lines.append("Traceback (most recent call last):\n")
        lines += traceback.format_tb(error.__traceback__)
    name = f"{type(error).__module__}.{type(error).__qualname__}"
    if db_errors.is_database_error(error):
        lines.append(f"{name}: {db_errors.describe(error)}\n")
    elif isinstance(error, VALKEY_CLIENT_ERRORS):
        lines.append(f"{name} (message left out: it can quote the command's values)\n")
    else:
        lines += traceback.format_exception_only(type(error), error)
    return lines


def log_format(env=os.environ) -> str:
    """LOG_FORMAT: text (the default) or json; anything else stops the start."""
    chosen = env.get("LOG_FORMAT", "text").strip().lower() or "text"
    if chosen not in LOG_FORMATS:
        raise RuntimeError(f"LOG_FORMAT={chosen!r}: use text or json.")
    return chosen


def configure_logging() -> None:
    """The root handler (gunicorn's and the worker's output) with the
    private formatter of LOG_FORMAT; LOG_LEVEL for the app's own loggers."""
    formatter = PrivateJsonFormatter if log_format() == "json" else PrivateFormatter
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(level=logging.WARNING)
    for handler in root.handlers:
        if type(handler.formatter) is not formatter:
            handler.setFormatter(formatter())
    logging.getLogger("employee_app").setLevel(os.environ.get("LOG_LEVEL", "INFO"))
