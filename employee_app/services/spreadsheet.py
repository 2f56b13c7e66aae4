"""CSV for spreadsheets: every download (export, rejected rows, audit log)
writes its cells through here, and the import reads them back through here."""
import csv
import io

# A cell starting with one of these is run as a formula by spreadsheet programs.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
BOM = "\ufeff"  # so that spreadsheet programs open the file as UTF-8


def safe_cell(value) -> str:
    """The cell's text, with a leading ' if a spreadsheet would run it."""
    if value is None:
        return ""
    text = value.isoformat() if hasattr(value, "isoformat") else str(value)
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text


def unquote_cell(text: str) -> str:
    """The inverse of safe_cell, for a file coming back to the import."""
    return text[1:] if text[:1] == "'" and text[1:2] in FORMULA_PREFIXES else text


def csv_text(rows) -> str:
    """Rows of cells as CSV text (CRLF line ends, as spreadsheets write)."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(rows)
    return buffer.getvalue()
