"""Reading uploaded files as rows of strings: CSV (encoding and delimiter
detected) and XLSX (streamed), whatever spreadsheet wrote them."""
import codecs
import csv
import hashlib
import zipfile
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import BinaryIO, Iterator

CHUNK = 1024 * 1024
SNIFF_CHARS = 64 * 1024
DELIMITERS = (",", ";", "\t")
csv.field_size_limit(1024 * 1024)  # one cell may be long, but not unbounded


class FileRefused(Exception):
    """An upload we cannot read, with a message for the person and a status."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.message = message
        self.status = status


@dataclass(frozen=True)
class FileFormat:
    kind: str  # "csv" or "xlsx"
    encoding: str | None = None  # csv: "utf-8-sig" or "cp1252"
    delimiter: str | None = None  # csv: "," ";" or tab


def save_stream(stream: BinaryIO, path: str, max_bytes: int) -> tuple[int, str]:
    """Copy an upload to disk in chunks; return (size, sha256). Refuses (413)
    past max_bytes without reading the rest into memory."""
    digest, size = hashlib.sha256(), 0
    with open(path, "wb") as out:
        while chunk := stream.read(CHUNK):
            size += len(chunk)
            if size > max_bytes:
                raise FileRefused(f"The file is larger than the limit of {max_bytes // (1024 * 1024)} MB.", 413)
            digest.update(chunk)
            out.write(chunk)
    return size, digest.hexdigest()


def detect_format(path: str) -> FileFormat:
    """What the file is, or FileRefused saying why it cannot be imported."""
    with open(path, "rb") as f:
        head = f.read(SNIFF_CHARS)
    if not head.strip(b" \t\r\n\xef\xbb\xbf,;"):
        raise FileRefused("The file is empty: there are no rows to import.")
    if head.startswith(b"PK\x03\x04"):
        if not _is_xlsx(path):
            raise FileRefused("This is a ZIP file but not an Excel workbook (.xlsx).")
        return FileFormat("xlsx")
    if b"\x00" in head or head.startswith(b"\xd0\xcf\x11\xe0"):
        raise FileRefused("This looks like a binary file, not CSV text. "
                          "Save it from your spreadsheet as CSV (UTF-8) or as .xlsx.")
    encoding = "utf-8-sig" if _is_utf8(path) else "cp1252"
    text = head.decode(encoding, errors="replace")
    return FileFormat("csv", encoding, _sniff_delimiter(text))


def _is_xlsx(path: str) -> bool:
    try:
        with zipfile.ZipFile(path) as archive:
            return "xl/workbook.xml" in archive.namelist()
    except zipfile.BadZipFile:
        return False


def _is_utf8(path: str) -> bool:
    """True if the whole file decodes as UTF-8 (checked in chunks)."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        with open(path, "rb") as f:
            while chunk := f.read(CHUNK):
                decoder.decode(chunk)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def _sniff_delimiter(text: str) -> str:
    """The delimiter that splits the first lines into the most columns, the
    same number on each line."""
    lines = text.splitlines()[:-1] if len(text) >= SNIFF_CHARS else text.splitlines()
    sample = [line for line in lines if line.strip()][:50]
    best, best_score = ",", (0, 0)
    for delimiter in DELIMITERS:
        widths = [len(row) for row in csv.reader(sample, delimiter=delimiter)]
        if not widths or widths[0] < 2:
            continue
        score = (sum(1 for width in widths if width == widths[0]), widths[0])
        if score > best_score:
            best, best_score = delimiter, score
    return best


def iter_rows(path: str, file_format: FileFormat) -> Iterator[tuple[int, list[str]]]:
    """(record number from 1, cells) for each non-blank record of the file."""
    rows = _csv_rows(path, file_format) if file_format.kind == "csv" else _xlsx_rows(path)
    for number, cells in enumerate(rows, start=1):
        if any(cell.strip() for cell in cells):
            yield number, cells


def _csv_rows(path: str, file_format: FileFormat) -> Iterator[list[str]]:
    with open(path, newline="", encoding=file_format.encoding, errors="replace") as f:
        yield from csv.reader(f, delimiter=file_format.delimiter)


def _xlsx_rows(path: str) -> Iterator[list[str]]:
    from openpyxl import load_workbook

    # A file object: openpyxl would refuse a path not ending in .xlsx.
    with open(path, "rb") as f:
        workbook = load_workbook(f, read_only=True, data_only=True)
        try:
            for values in workbook.worksheets[0].iter_rows(values_only=True):
                yield [_cell_text(value) for value in values]
        finally:
            workbook.close()


def _cell_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # Excel stores 1042 as 1042.0: the ID is "1042"
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == time(0) else value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def xlsx_row_count(path: str) -> int | None:
    from openpyxl import load_workbook

    with open(path, "rb") as f:
        workbook = load_workbook(f, read_only=True)
        try:
            return workbook.worksheets[0].max_row
        finally:
            workbook.close()
