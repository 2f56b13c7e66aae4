"""Reading uploaded files as records of strings: CSV (encoding and delimiter
detected) and XLSX (streamed by xlsx.py), whatever spreadsheet wrote them.

Memory stays bounded whatever the file holds: a record past one of the limits
below is reported as a problem with its cells cut short, and a file that could
only be read by holding too much of it at once is refused before it is stored.
"""
import codecs
import csv
import hashlib
import re
from dataclasses import dataclass
from typing import BinaryIO, Iterator

# --- limits -----------------------------------------------------------------
# Columns in one row, trailing empty cells not counted. Employee files have a
# few dozen; thousands of columns mean the file is not an employee list.
MAX_COLUMNS = 200
# Characters in one cell: Excel's own limit, so no real spreadsheet cell is longer.
MAX_CELL_CHARS = 32_767
# Characters in one CSV record (a line, or several when a quoted cell holds
# line breaks), line breaks at its end not counted. MAX_COLUMNS full cells
# would not fit: a real row is far shorter.
MAX_ROW_CHARS = 1_048_576
# An .xlsx is a ZIP. The sum of its parts' uncompressed sizes, as its
# directory declares them (zipfile reads no further than declared): a
# 1,000,000-row sheet of 12 columns is about 700 MB.
XLSX_MAX_UNCOMPRESSED_BYTES = 1024 ** 3
# How many times its compressed size a part may expand. Sheets expand 5 to 15
# times; a "ZIP bomb" (a small file unpacking to gigabytes) far more.
XLSX_MAX_RATIO = 100
# Parts smaller than this are not held to XLSX_MAX_RATIO (tiny parts compress
# oddly, and cannot hurt).
XLSX_RATIO_MIN_BYTES = 1024 * 1024
# Parts in one workbook: Excel writes a few dozen.
XLSX_MAX_PARTS = 10_000

CHUNK = 1024 * 1024  # bytes read at a time; no more than MAX_ROW_CHARS (see _LineLengths)
# Bytes no text holds (tab, line ends and form feed aside): more than one in
# BINARY_CONTROL_SHARE of the first 64 KB, and the file is not text.
CONTROL_BYTES = bytes([*range(0, 9), *range(14, 32)])
BINARY_CONTROL_SHARE = 100
SNIFF_CHARS = 64 * 1024
DELIMITERS = (",", ";", "\t")
# A cell longer than this stops csv.reader with csv.Error, reported as a
# problem record (the csv module's limit is for the whole process).
csv.field_size_limit(MAX_CELL_CHARS)
LINE_ENDINGS = ("\n", "\r")
# A line of MAX_ROW_CHARS characters and its "\r\n" is read whole.
LINE_READ_LIMIT = MAX_ROW_CHARS + 2


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
    """What the file is, or FileRefused saying why it cannot be imported.
    A CSV is read once whole, in chunks (its encoding, its longest line); of
    an XLSX only the ZIP directory and the small workbook parts are read."""
    with open(path, "rb") as f:
        head = f.read(SNIFF_CHARS)
    if not head.strip(b" \t\r\n\xef\xbb\xbf,;"):
        raise FileRefused("The file is empty: there are no rows to import.")
    if head.startswith(b"PK\x03\x04"):
        from . import xlsx  # here: xlsx.py imports this module, and openpyxl loads for workbooks only

        xlsx.check_archive(path)
        return FileFormat("xlsx")
    known = _other_kind(head)
    if known:
        raise FileRefused(known)
    # Binary: control bytes all through (a picture). A stray NUL in a text
    # file is a bad cell: its row alone is rejected.
    controls = len(head) - len(head.translate(None, CONTROL_BYTES))
    if controls > len(head) // BINARY_CONTROL_SHARE:
        raise FileRefused("This looks like a binary file, not CSV text. "
                          "Save it from your spreadsheet as CSV (UTF-8) or as .xlsx.")
    encoding = _csv_encoding(path)
    text = head.decode(encoding, errors="replace")
    return FileFormat("csv", encoding, _sniff_delimiter(text))


# Files people upload for a staff list that are none (by their first bytes),
# and what to do instead.
SAVE_AS = "Open it in your spreadsheet and save it as .xlsx (Excel Workbook) or CSV (UTF-8), then upload that."
OTHER_KINDS = (
    ((b"\xd0\xcf\x11\xe0",), "This is an Excel 97-2003 workbook (.xls) or another old Office file, which "
                              "cannot be read here. " + SAVE_AS),
    ((b"\xff\xfe", b"\xfe\xff"), "This is UTF-16 text (what Excel saves as \"Unicode Text\"), which cannot be "
                                 "read here. " + SAVE_AS),
    ((b"%PDF-",), "This is a PDF document, not a spreadsheet: its table cannot be read. Export the list from "
                  "where it was made as CSV or .xlsx."),
    ((b"{\\rtf",), "This is a Word (RTF) document, not a spreadsheet. " + SAVE_AS),
)
HTML_STARTS = (b"<!doctype html", b"<html", b"<table", b"<?xml")


def _other_kind(head: bytes) -> str | None:
    """Why the file is none of what can be imported, when its first bytes
    say what it is; None otherwise. A web page saved as ".xls" (as some web
    apps export "Excel") would be read as one column of HTML."""
    for starts, message in OTHER_KINDS:
        if head.startswith(starts):
            return message
    if head.lstrip(b" \t\r\n\xef\xbb\xbf")[:20].lower().startswith(HTML_STARTS):
        return "This is a web page or XML (saved with a spreadsheet's name, as some programs export \"Excel\"), " \
               "not CSV or .xlsx. " + SAVE_AS
    return None


def _csv_encoding(path: str) -> str:
    """"utf-8-sig" if the whole file decodes as UTF-8, else "cp1252". The same
    pass refuses (413) a file with a line longer than MAX_ROW_CHARS."""
    try:
        _check_line_lengths(path, codecs.getincrementaldecoder("utf-8-sig")())
        return "utf-8-sig"
    except UnicodeDecodeError:
        _check_line_lengths(path, codecs.getincrementaldecoder("cp1252")(errors="replace"))
        return "cp1252"


def _check_line_lengths(path: str, decoder: codecs.IncrementalDecoder) -> None:
    """Decode the whole file in chunks (UnicodeDecodeError if it is not in the
    decoder's encoding), measuring its lines in characters of that encoding."""
    lines = _LineLengths()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            lines.feed(decoder.decode(chunk))
    lines.feed(decoder.decode(b"", final=True))
    lines.finish()


class _LineLengths:
    """Follows the physical lines of a text fed in pieces, and refuses (413)
    the first longer than MAX_ROW_CHARS ("\r\n", "\n" and "\r" end a line,
    as for csv). A piece decoded from CHUNK bytes has at most MAX_ROW_CHARS
    characters, so only a line crossing from one piece into the next can be
    too long: each piece costs a few C-level searches and one count."""

    def __init__(self):
        self.number = 1  # of the line being measured (for the message)
        self.length = 0  # its characters so far

    def feed(self, text: str) -> None:
        ends = [end for end in (text.find("\n"), text.find("\r")) if end >= 0]
        if not ends:
            self.length += len(text)
            return
        self._line_ended(self.length + min(ends))
        # Lines are numbered by "\n" (by "\r" in a file without "\n"): the
        # count is exact but for a rare mix of endings, and only for messages.
        self.number += text.count("\n") or text.count("\r")
        self.length = len(text) - max(text.rfind("\n"), text.rfind("\r")) - 1

    def finish(self) -> None:
        self._line_ended(self.length)

    def _line_ended(self, length: int) -> None:
        if length > MAX_ROW_CHARS:
            raise FileRefused(f"Line {self.number:,} is {length:,} characters long; a row may hold at most "
                              f"{MAX_ROW_CHARS:,}. Is this really a CSV file?", 413)


def _sniff_delimiter(text: str) -> str:
    """The delimiter that splits the first lines into the most columns, the
    same number on each line."""
    lines = text.splitlines()[:-1] if len(text) >= SNIFF_CHARS else text.splitlines()
    sample = [line for line in lines if line.strip()][:50]
    best, best_score = ",", (0, 0)
    for delimiter in DELIMITERS:
        widths = _row_widths(sample, delimiter)
        if not widths or widths[0] < 2:
            continue
        score = (sum(1 for width in widths if width == widths[0]), widths[0])
        if score > best_score:
            best, best_score = delimiter, score
    return best


def _row_widths(lines: list[str], delimiter: str) -> list[int]:
    widths = []
    try:
        for row in csv.reader(lines, delimiter=delimiter):
            widths.append(len(row))
    except csv.Error:  # a cell past MAX_CELL_CHARS: judge by the rows before it
        pass
    return widths


# --- records ------------------------------------------------------------------

def read_records(path: str, file_format: FileFormat) -> Iterator[tuple[int, list[str], str | None]]:
    """(record number, cells, problem) for each non-blank record of the file.

    CSV records are numbered from 1 in file order, blank ones counted; XLSX
    rows carry the sheet's own row number. problem is None for a record read
    whole; for one past a limit it is a sentence for the person, and cells
    are then a bounded prefix (at most MAX_COLUMNS cells of at most
    MAX_CELL_CHARS characters) to show and download. Reading then goes on
    with the next record. FileRefused is raised for a workbook that cannot
    be read safely (see xlsx.py)."""
    if file_format.kind == "xlsx":
        from . import xlsx

        return xlsx.read_records(path)
    return _csv_records(path, file_format)


def estimate_xlsx_rows(path: str) -> int | None:
    """A guess at the first sheet's row count, for the progress bar only."""
    from . import xlsx

    return xlsx.estimate_rows(path)


def _csv_records(path: str, file_format: FileFormat) -> Iterator[tuple[int, list[str], str | None]]:
    delimiter = file_format.delimiter
    with open(path, newline="", encoding=file_format.encoding, errors="replace") as f:
        lines = _CsvLines(f)
        number = 0
        while True:  # a fresh csv.reader after each record cut short
            try:
                for cells in csv.reader(lines, delimiter=delimiter):
                    lines.record_chars = 0
                    number += 1
                    if len(cells) > MAX_COLUMNS:
                        record = _wide_record(number, cells)
                        if record:
                            yield record
                    elif any(map(str.strip, cells)):
                        yield number, cells, None
                return
            except _RecordTooLong as too_long:
                number += 1
                cells, _ = _record_cells(lines.record_text(), delimiter)
                problem = f"Row {number:,} has more than {MAX_ROW_CHARS:,} characters ({too_long.length:,} found)."
            except csv.Error as error:
                number += 1
                cells, long_column = _record_cells(lines.record_text(), delimiter)
                problem = _csv_error_problem(number, error, long_column)
            lines.record_chars = 0
            yield number, cells, problem


class _RecordTooLong(Exception):
    """Raised out of csv.reader by _CsvLines: the record passed MAX_ROW_CHARS."""

    def __init__(self, length: int):
        super().__init__(length)
        self.length = length  # characters found, up to the end of the line where it passed


class _CsvLines:
    """A CSV file's lines for csv.reader, read so that memory stays bounded:
    no line is read whole past LINE_READ_LIMIT, and a record growing past
    MAX_ROW_CHARS (one long line, or many inside quotes) stops csv.reader
    with _RecordTooLong. The caller sets record_chars to 0 after each record."""

    def __init__(self, file):
        self.file = file
        self.record_chars = 0  # characters of the record being read, so far
        self.record: list[str] = []  # its lines (the last one maybe cut), to show it if refused

    def __iter__(self) -> Iterator[str]:
        readline = self.file.readline
        while line := readline(LINE_READ_LIMIT):
            if self.record_chars:
                self.record.append(line)
            else:
                self.record = [line]
            self.record_chars += len(line)
            if self.record_chars > MAX_ROW_CHARS and self.record_chars - _ending_length(line) > MAX_ROW_CHARS:
                raise _RecordTooLong(self._drop_rest_of_line(line))
            yield line

    def record_text(self) -> str:
        return "".join(self.record)

    def _drop_rest_of_line(self, line: str) -> int:
        """Read what is left of an over-long line, CHUNK characters at a time,
        keeping none of it; return the record's length up to the line's end."""
        length = self.record_chars - _ending_length(line)
        while line and not _ending_length(line):
            line = self.file.readline(CHUNK)
            length += len(line) - _ending_length(line)
        if line.endswith("\r"):
            self._drop_split_newline()
        return length

    def _drop_split_newline(self) -> None:
        """A read limit may fall between the "\r" and "\n" of a line ending:
        the "\n" is then read here, not as a blank line of its own."""
        position = self.file.tell()
        if self.file.read(1) != "\n":
            self.file.seek(position)


def _ending_length(line: str) -> int:
    if line.endswith("\r\n"):
        return 2
    return 1 if line.endswith(LINE_ENDINGS) else 0


def _wide_record(number: int, cells: list[str]) -> tuple[int, list[str], str | None] | None:
    """A record csv.reader read with more than MAX_COLUMNS cells: fine if its
    cells past the limit are all empty, a problem otherwise; None if blank."""
    width = len(cells)
    while width and not cells[width - 1].strip():
        width -= 1
    if width > MAX_COLUMNS:
        return number, cells[:MAX_COLUMNS], f"Row {number:,} has more than {MAX_COLUMNS:,} columns ({width:,} found)."
    return (number, cells[:width], None) if width else None


def _csv_error_problem(number: int, error: csv.Error, long_column: int | None) -> str:
    if "field larger than field limit" not in str(error):
        return f"Row {number:,} could not be read as CSV ({error})."
    where = f" (column {long_column:,})" if long_column else ""
    return f"Row {number:,} has a cell longer than {MAX_CELL_CHARS:,} characters{where}."


def _record_cells(text: str, delimiter: str) -> tuple[list[str], int | None]:
    """The first MAX_COLUMNS cells of a refused record's text, each cut to
    MAX_CELL_CHARS, split as csv.reader splits them; and the number of the
    first cell that was longer (or None). Only for problem records: it works
    field by field with str.find, never character by character."""
    cells: list[str] = []
    long_column = None
    cell_end = _cell_end_pattern(delimiter)
    position = 0
    while len(cells) < MAX_COLUMNS:
        parts = []
        if text.startswith('"', position):  # quoted: up to the quote that is not doubled
            position += 1
            while (quote := text.find('"', position)) >= 0 and text.startswith('"', quote + 1):
                parts.append(text[position:quote + 1])
                position = quote + 2
            parts.append(text[position:quote if quote >= 0 else len(text)])
            position = quote + 1 if quote >= 0 else len(text)
        end = cell_end.search(text, position)
        stop = end.start() if end else len(text)
        parts.append(text[position:stop])  # characters after a closing quote belong to the cell, as in csv
        cell = "".join(parts)
        if len(cell) > MAX_CELL_CHARS and long_column is None:
            long_column = len(cells) + 1
        cells.append(cell[:MAX_CELL_CHARS])
        if not end or end.group() != delimiter:
            break
        position = stop + 1
    return cells, long_column


def _cell_end_pattern(delimiter: str) -> re.Pattern:
    return re.compile(f"[{re.escape(delimiter)}\r\n]")
