"""Keyset-pagination cursors: the sort key of the last (or first) row shown,
packed into an opaque URL-safe token."""
import base64
import json
import re
from dataclasses import dataclass

# The ranges of PostgreSQL's integer (int4) and bigint (int8) columns: a
# larger number in a query is an error, not "no match".
INTEGER_MIN, INTEGER_MAX = -2**31, 2**31 - 1
BIGINT_MIN, BIGINT_MAX = -2**63, 2**63 - 1
# Longer than any sort column's value (names are at most 100 characters).
MAX_TEXT_VALUE = 200
# Never in a sort key: control characters (PostgreSQL refuses NUL) and lone
# surrogates (JSON can spell them; no encoding can send them).
NOT_STORED_RE = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")


@dataclass
class Cursor:
    values: list
    backwards: bool  # True for a "previous page" cursor


def encode_cursor(cursor: Cursor) -> str:
    payload = json.dumps([cursor.values, cursor.backwards], separators=(",", ":"))
    return base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")


def decode_cursor(token: str | None, width: int) -> Cursor | None:
    """A Cursor, or None for a missing or tampered token (the first page).
    Its values are strings a sort column can hold and integers a bigint can;
    the caller checks them against its columns' types."""
    if not token:
        return None
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        values, backwards = json.loads(raw)
    except (ValueError, TypeError, RecursionError):  # RecursionError: "[[[[...", nested too deep
        return None
    if not isinstance(values, list) or len(values) != width or not isinstance(backwards, bool):
        return None
    if not all(_storable(value) for value in values):
        return None
    return Cursor(values, backwards)


def _storable(value) -> bool:
    if isinstance(value, bool):  # an int to isinstance, never a sort key
        return False
    if isinstance(value, int):
        return BIGINT_MIN <= value <= BIGINT_MAX
    if isinstance(value, str):
        return len(value) <= MAX_TEXT_VALUE and NOT_STORED_RE.search(value) is None
    return False
