"""CSV for spreadsheets: every download (export, rejected rows, audit log)
writes its cells through csv_text, which makes every cell, headers
included, formula-safe; the import reads them back through unquote_cell."""
import csv
import io

# A cell starting with one of these is run as a formula by spreadsheet programs.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
BOM = "\ufeff"  # so that spreadsheet programs open the file as UTF-8


def safe_cell(value) -> str:
    """The cell's text, with a leading ' if a spreadsheet would run it (and
    a NUL, which no spreadsheet reads back, as U+FFFD)."""
    if value is None:
        return ""
    if isinstance(value, int):  # a number is never a formula: -3 stays a number (a report's net change)
        return str(value)
    text = value.isoformat() if hasattr(value, "isoformat") else str(value)
    if "\x00" in text:
        text = text.replace("\x00", "\ufffd")
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text


def unquote_cell(text: str) -> str:
    """The inverse of safe_cell, for a file coming back to the import."""
    return text[1:] if text[:1] == "'" and text[1:2] in FORMULA_PREFIXES else text


def csv_text(rows) -> str:
    """Rows of cells as CSV text (CRLF line ends, as spreadsheets write),
    every cell through safe_cell: no caller can forget it."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows([safe_cell(cell) for cell in row] for row in rows)
    return buffer.getvalue()
