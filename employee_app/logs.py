"""Logging without personal data.

A database error's message quotes the values it refused ("Key (email)=(…)
already exists", "Failing row contains (…)"), a Valkey pipeline error quotes
the whole command (every e-mail of a batch), and a traceback ends with that
message. The formatter here writes tracebacks as usual but replaces each
such message with what the error is: a database error's kind, SQLSTATE,
table and constraint (services/db_errors.describe), a Valkey error's class.
SQLAlchemy is told to leave statement parameters out of its errors
(hide_parameters, config.py).
"""
import logging
import os
import traceback

import redis.exceptions
import valkey.exceptions

from .services import db_errors

VALKEY_CLIENT_ERRORS = (valkey.exceptions.ValkeyError, redis.exceptions.RedisError)

LOG_FORMAT = "%(asctime)s %(levelname)s [%(name)s] %(message)s"


class PrivateFormatter(logging.Formatter):
    def formatException(self, exc_info) -> str:
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


def configure_logging() -> None:
    """The root handler (gunicorn's and the worker's output) with the
    private formatter; LOG_LEVEL for the app's own loggers."""
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(level=logging.WARNING, format=LOG_FORMAT)
    for handler in root.handlers:
        if not isinstance(handler.formatter, PrivateFormatter):
            handler.setFormatter(PrivateFormatter(LOG_FORMAT))
    logging.getLogger("employee_app").setLevel(os.environ.get("LOG_LEVEL", "INFO"))
