"""Keyset-pagination cursors: the sort key of the last (or first) row shown,
packed into an opaque URL-safe token."""
import base64
import json
from dataclasses import dataclass


@dataclass
class Cursor:
    values: list
    backwards: bool  # True for a "previous page" cursor


def encode_cursor(cursor: Cursor) -> str:
    payload = json.dumps([cursor.values, cursor.backwards], separators=(",", ":"))
    return base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")


def decode_cursor(token: str | None, width: int) -> Cursor | None:
    """A Cursor, or None for a missing or tampered token (the first page)."""
    if not token:
        return None
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        values, backwards = json.loads(raw)
    except (ValueError, TypeError):
        return None
    if not isinstance(values, list) or len(values) != width or not isinstance(backwards, bool):
        return None
    if not all(isinstance(v, (str, int)) and not isinstance(v, bool) for v in values):
        return None
    return Cursor(values, backwards)
