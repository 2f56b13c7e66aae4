"""The worksheet of an .xlsx workbook that holds the list (the first visible
one with a value) as records of strings, read in bounded memory whatever
the file claims about itself.

An .xlsx is a ZIP of XML parts. check_archive() reads the ZIP's directory
before anything is unpacked and refuses ZIP bombs. read_records() streams
the parts through expat (a C parser calling the handlers below), FEED_BYTES
at a time: xl/workbook.xml and its relationships name the worksheets, the
shared strings and the styles; then the sheet's <row> elements become
records. Cells are placed by their own reference: the sheet's <dimension>
is never trusted (estimate_rows() takes it as a hint for the progress bar).
"""
import posixpath
import re
import zipfile
import zlib
from array import array
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Iterator
from xml.parsers import expat

from openpyxl.styles.numbers import BUILTIN_FORMATS, is_date_format, is_timedelta_format
from openpyxl.utils import get_column_letter
from openpyxl.utils.datetime import MAC_EPOCH, WINDOWS_EPOCH, from_excel, from_ISO8601

from .files import (MAX_CELL_CHARS, MAX_COLUMNS, SAVE_AS, XLSX_MAX_PARTS, XLSX_MAX_RATIO, XLSX_MAX_UNCOMPRESSED_BYTES,
                    XLSX_RATIO_MIN_BYTES, FileRefused)

FEED_BYTES = 64 * 1024
# Guards against XML built to make expat hold a lot: a sheet nests 7 deep,
# uses a few dozen element and attribute names, and no tag is longer than a
# few hundred bytes (expat holds an unfinished tag or comment whole).
MAX_XML_DEPTH = 100
MAX_XML_NAMES = 10_000
MAX_XML_TOKEN_BYTES = 1024 * 1024
# Visible worksheets looked into for the first with a value: a list is on
# one of the first few, not behind hundreds of empty ones.
MAX_SHEETS_TRIED = 20
# Merged ranges filled down (_merged_down): Excel allows 65,530 in a sheet.
MAX_MERGED_RANGES = 65_536
MERGE_CELL_RE = re.compile(rb'<(?:[A-Za-z_][\w.-]*:)?mergeCell\b[^>]*?\bref\s*=\s*["\']([A-Z]{1,3})(\d{1,7}):([A-Z]{1,3})(\d{1,7})["\']')
MERGE_TAIL_BYTES = 1024  # what a <mergeCell> split between two reads can have in the first
# Excel's own limits: rows in a sheet, and cell formats in a workbook.
EXCEL_MAX_ROWS = 1_048_576
EXCEL_MAX_STYLES = 65_536
# The least XML a row with a value takes, for estimate_rows().
SMALLEST_ROW_BYTES = len(b"<row><c><v>1</v></c></row>")

MAIN_NAMESPACES = ("http://schemas.openxmlformats.org/spreadsheetml/2006/main",  # Transitional
                   "http://purl.oclc.org/ooxml/spreadsheetml/main")  # Strict
RELATIONSHIP_ID = {"http://schemas.openxmlformats.org/officeDocument/2006/relationships id",
                   "http://purl.oclc.org/ooxml/officeDocument/relationships id"}
PACKAGE_RELATIONSHIP = "http://schemas.openxmlformats.org/package/2006/relationships Relationship"
ELEMENTS = ("row", "c", "v", "is", "t", "rPh", "si", "dimension", "sheetData", "numFmt", "cellXfs", "xf",
            "workbookPr", "sheet")
# expat's "namespace name" of each element read here -> its local name.
TAGS = {f"{namespace} {name}": name for namespace in MAIN_NAMESPACES for name in ELEMENTS}
TAGS[PACKAGE_RELATIONSHIP] = "Relationship"
DIGITS = "0123456789"
BOOLEANS = {"1": "TRUE", "0": "FALSE"}  # as Excel shows them
# "A" -> 0 ... for the columns within MAX_COLUMNS (the others are computed).
COLUMN_INDEX = {get_column_letter(number): number - 1 for number in range(1, MAX_COLUMNS + 1)}


def check_archive(path: str) -> None:
    """Refuse (FileRefused) a ZIP that is not a workbook we can read, or whose
    directory shows it would expand too much, before anything is unpacked."""
    with _open_archive(path) as archive:
        members = archive.infolist()
        total = sum(member.file_size for member in members)
        if total > XLSX_MAX_UNCOMPRESSED_BYTES:
            raise FileRefused(f"The workbook expands to {_size_text(total)}; at most "
                              f"{_size_text(XLSX_MAX_UNCOMPRESSED_BYTES)} can be imported.", 413)
        for member in members:
            _check_member(member)
        _workbook_parts(archive)


def _open_archive(path: str) -> zipfile.ZipFile:
    """The ZIP, once its end record shows a directory of a workbook's size:
    zipfile.ZipFile reads every directory entry into memory first."""
    try:
        with open(path, "rb") as f:
            end_record = zipfile._EndRecData(f)  # zipfile's own reader of the ZIP end record
        if end_record is None:
            raise zipfile.BadZipFile("no end record")
        parts, directory_bytes = end_record[zipfile._ECD_ENTRIES_TOTAL], end_record[zipfile._ECD_SIZE]
        if parts > XLSX_MAX_PARTS or directory_bytes > XLSX_MAX_PARTS * 1024:
            raise FileRefused(f"The workbook is made of {parts:,} parts ({_size_text(directory_bytes)} of "
                              f"directory); a spreadsheet has far fewer, and at most {XLSX_MAX_PARTS:,} "
                              f"can be read.", 413)
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError):
        raise FileRefused("This is a ZIP file but not an Excel workbook (.xlsx).") from None
    if "xl/workbook.xml" not in archive.NameToInfo:
        names = archive.NameToInfo
        archive.close()
        raise FileRefused(_not_a_workbook(names))
    return archive


def _not_a_workbook(names) -> str:
    """What a ZIP that is not an .xlsx is, by its parts, and what to do."""
    if "content.xml" in names and "mimetype" in names:
        return "This is an OpenDocument file (.ods, from LibreOffice or Google Sheets), not .xlsx. " + SAVE_AS
    if "word/document.xml" in names:
        return "This is a Word document (.docx), not a spreadsheet. Put the list in a spreadsheet and save it " \
               "as .xlsx or CSV."
    if "ppt/presentation.xml" in names:
        return "This is a PowerPoint presentation (.pptx), not a spreadsheet."
    return "This is a ZIP file but not an Excel workbook (.xlsx). " + SAVE_AS


def _check_member(member: zipfile.ZipInfo) -> None:
    if member.flag_bits & 0x1:
        raise FileRefused("The workbook is protected with a password. Save it without one and upload it again.")
    if member.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise FileRefused("The workbook is compressed in a way Excel does not use. "
                          "Open it in your spreadsheet and save it again as .xlsx.")
    if member.file_size > XLSX_RATIO_MIN_BYTES and member.file_size > XLSX_MAX_RATIO * member.compress_size:
        raise FileRefused(f"The workbook expands to {_size_text(member.file_size)} from "
                          f"{_size_text(member.compress_size)}, more than {XLSX_MAX_RATIO} times its size: "
                          f"it looks like a ZIP bomb and is refused.", 413)


def _size_text(size: int) -> str:
    for unit, scale in (("GB", 1024 ** 3), ("MB", 1024 ** 2), ("KB", 1024)):
        if size >= scale:
            return f"{size / scale:,.{1 if unit == 'GB' else 0}f} {unit}"
    return f"{size:,} bytes"


def _broken(detail: str) -> FileRefused:
    return FileRefused(f"The workbook could not be read ({detail}). "
                       f"Open it in your spreadsheet and save it again as .xlsx.")


# --- reading XML parts ------------------------------------------------------------

class _PartReader:
    """expat handlers for one XML part. Subclasses define start(tag, attrs)
    and end(tag), tag being the SpreadsheetML local name (None for other
    elements), or replace _on_start and _on_end where speed matters. Text
    is kept in self.text, up to MAX_CELL_CHARS characters, while
    self.collecting is set."""

    def __init__(self):
        self.depth = 0
        self.collecting = False
        self.text = ""
        self.cut = False  # characters were left out of self.text past MAX_CELL_CHARS

    def parse(self, archive: zipfile.ZipFile, name: str) -> Iterator[None]:
        """Feed part `name` to expat, yielding after each FEED_BYTES piece so
        that the caller can take what the handlers made of it."""
        parser = expat.ParserCreate(namespace_separator=" ")
        parser.buffer_text = True  # a text arrives in one piece, or in pieces of buffer_size
        parser.buffer_size = FEED_BYTES
        parser.StartDoctypeDeclHandler = _refuse_doctype  # no DTD, so no entity tricks
        parser.EntityDeclHandler = _refuse_doctype
        parser.StartElementHandler = self._on_start
        parser.EndElementHandler = self._on_end
        parser.CharacterDataHandler = self._on_text
        fed = 0
        try:
            with archive.open(name) as part:
                while piece := part.read(FEED_BYTES):
                    parser.Parse(piece, False)
                    fed += len(piece)
                    _check_held(parser, fed, name)
                    yield
            parser.Parse(b"", True)
        except (expat.ExpatError, zipfile.BadZipFile, zlib.error, EOFError) as error:
            raise _broken(f"{name}: {error}") from None
        yield

    def _on_start(self, name: str, attrs: dict) -> None:
        self.depth += 1
        if self.depth > MAX_XML_DEPTH:
            raise _too_deep()
        self.start(TAGS.get(name), attrs)

    def _on_end(self, name: str) -> None:
        self.depth -= 1
        self.end(TAGS.get(name))

    def _on_text(self, data: str) -> None:
        if self.collecting and not self.cut:
            text = self.text + data
            if len(text) > MAX_CELL_CHARS:
                text, self.cut = text[:MAX_CELL_CHARS], True
            self.text = text

    def begin_text(self) -> None:
        self.text, self.cut = "", False


def _refuse_doctype(*_) -> None:
    raise FileRefused("The workbook contains an XML document type declaration (DOCTYPE), which spreadsheets "
                      "do not write: it is refused.")


def _too_deep() -> FileRefused:
    return _broken(f"elements nested more than {MAX_XML_DEPTH} deep")


def _check_held(parser, fed: int, name: str) -> None:
    """What expat holds besides the handlers' own data: the unfinished token
    (a tag, comment or declaration is held whole until it ends) and the
    names it has seen (each kept for the whole part)."""
    if fed - parser.CurrentByteIndex > MAX_XML_TOKEN_BYTES:
        raise _broken(f"{name} has an XML tag or comment longer than {_size_text(MAX_XML_TOKEN_BYTES)}")
    if len(parser.intern) > MAX_XML_NAMES:
        raise _broken(f"{name} uses more than {MAX_XML_NAMES:,} different XML names")


def _parse_whole(reader: _PartReader, archive: zipfile.ZipFile, name: str) -> None:
    for _ in reader.parse(archive, name):
        pass


# --- the workbook: which parts to read --------------------------------------------

@dataclass
class _WorkbookParts:
    sheet: str  # the part name of the worksheet read (_WorkbookReader)
    shared_strings: str | None
    styles: str | None
    date1904: bool


def _workbook_parts(archive: zipfile.ZipFile) -> _WorkbookParts:
    """The worksheet to read (see _WorkbookReader.sheets) and the parts it
    needs, through xl/_rels/workbook.xml.rels."""
    relationships = _Relationships()
    if "xl/_rels/workbook.xml.rels" in archive.NameToInfo:
        _parse_whole(relationships, archive, "xl/_rels/workbook.xml.rels")
    workbook = _WorkbookReader(relationships.worksheets)
    _parse_whole(workbook, archive, "xl/workbook.xml")
    sheets = workbook.sheets
    if not sheets:
        raise FileRefused("The workbook has no worksheet.")
    for part in (*sheets, relationships.shared_strings, relationships.styles):
        if part is not None and part not in archive.NameToInfo:
            raise _broken(f"its part {part} is missing")
    sheet = next((part for part in sheets if _has_values(archive, part)), sheets[0])
    return _WorkbookParts(sheet, relationships.shared_strings, relationships.styles, workbook.date1904)


class _Relationships(_PartReader):
    """xl/_rels/workbook.xml.rels: relationship id -> part, for the parts read here."""

    def __init__(self):
        super().__init__()
        self.worksheets: dict[str, str] = {}
        self.shared_strings: str | None = None
        self.styles: str | None = None

    def start(self, tag, attrs):
        if tag != "Relationship" or attrs.get("TargetMode") == "External":
            return
        kind, target = attrs.get("Type", "").rpartition("/")[2], _part_name(attrs.get("Target", ""))
        if kind == "worksheet" and len(self.worksheets) < XLSX_MAX_PARTS:
            self.worksheets[attrs.get("Id")] = target
        elif kind == "sharedStrings":
            self.shared_strings = self.shared_strings or target
        elif kind == "styles":
            self.styles = self.styles or target

    def end(self, tag):
        pass


def _part_name(target: str) -> str:
    """A relationship's target as a ZIP member name: from the package root,
    or relative to xl/."""
    if target.startswith("/"):
        return target[1:]
    return posixpath.normpath(posixpath.join("xl", target))


class _WorkbookReader(_PartReader):
    """xl/workbook.xml: the worksheets to try, in order, and the date system.
    The first visible worksheet with a value is read: a hidden one holds
    instructions or lookups, not what the person sees when the workbook
    opens, and an empty first sheet (a cover page left blank, a sheet added
    and never used) is not the list. If all are hidden, the first one."""

    def __init__(self, worksheets: dict[str, str]):
        super().__init__()
        self.worksheets = worksheets
        self.visible: list[str] = []
        self.first_hidden: str | None = None
        self.date1904 = False

    @property
    def sheets(self) -> list[str]:
        return self.visible or ([self.first_hidden] if self.first_hidden else [])

    def start(self, tag, attrs):
        if tag == "sheet" and len(self.visible) < MAX_SHEETS_TRIED:
            ids = [value for key, value in attrs.items() if key in RELATIONSHIP_ID]
            part = self.worksheets.get(ids[0]) if ids else None
            if part is None:
                return
            if attrs.get("state", "visible") in ("hidden", "veryHidden"):
                self.first_hidden = self.first_hidden or part
            elif part not in self.visible:
                self.visible.append(part)
        elif tag == "workbookPr":
            self.date1904 = attrs.get("date1904", "").strip().lower() in ("1", "true")

    def end(self, tag):
        pass


def _has_values(archive: zipfile.ZipFile, part: str) -> bool:
    """Whether a worksheet has a cell with a value: read until the first."""
    reader = _ValueFinder()
    for _ in reader.parse(archive, part):
        if reader.found:
            return True
    return reader.found


class _ValueFinder(_PartReader):
    """A worksheet's first cell value (<v>, or <t> of an inline string) that is not blank."""

    def __init__(self):
        super().__init__()
        self.found = False

    def start(self, tag, attrs):
        if tag in ("v", "t"):
            self.begin_text()
            self.collecting = True

    def end(self, tag):
        if tag in ("v", "t"):
            self.collecting = False
            self.found = self.found or bool(self.text.strip())


# --- styles: which cells hold dates -------------------------------------------------

class _Styles(_PartReader):
    """xl/styles.xml: the cell formats (index into <cellXfs>, as in a cell's
    s attribute) whose number format shows a date, or a duration, as
    openpyxl decides it."""

    def __init__(self):
        super().__init__()
        self.custom_formats: dict[int, str] = {}  # numFmtId -> format code
        self.in_cell_formats = False
        self.count = 0  # cell formats seen
        self.dates: set[str] = set()
        self.durations: set[str] = set()

    def start(self, tag, attrs):
        if tag == "numFmt" and len(self.custom_formats) < EXCEL_MAX_STYLES:
            self.custom_formats[_integer(attrs.get("numFmtId"))] = attrs.get("formatCode", "")
        elif tag == "cellXfs":
            self.in_cell_formats = True
        elif tag == "xf" and self.in_cell_formats and self.count < EXCEL_MAX_STYLES:
            format_id = _integer(attrs.get("numFmtId"))
            code = self.custom_formats.get(format_id, BUILTIN_FORMATS.get(format_id))
            if is_date_format(code):
                self.dates.add(str(self.count))
            if is_timedelta_format(code):
                self.durations.add(str(self.count))
            self.count += 1

    def end(self, tag):
        if tag == "cellXfs":
            self.in_cell_formats = False


def _integer(text: str | None) -> int:
    try:
        return int(text)
    except (TypeError, ValueError):
        return 0


# --- shared strings -------------------------------------------------------------------

class _SharedStrings:
    """The workbook's shared strings by index, kept compactly: UTF-8 in one
    buffer and where each ends (4 bytes a string besides its text, where a
    list of str takes about 60). Part sizes stay under 4 GiB, so "I" holds
    every offset."""

    def __init__(self):
        self.text = bytearray()
        self.ends = array("I")
        self.cut: set[int] = set()  # strings kept cut at MAX_CELL_CHARS

    def append(self, value: str, cut: bool) -> None:
        if cut:
            self.cut.add(len(self.ends))
        self.text += value.encode()
        self.ends.append(len(self.text))

    def get(self, index: int) -> str:
        if not 0 <= index < len(self.ends):
            raise IndexError(index)
        start = self.ends[index - 1] if index else 0
        return self.text[start:self.ends[index]].decode()


class _SharedStringsReader(_PartReader):
    """xl/sharedStrings.xml: each <si>'s text, rich text runs joined, the
    phonetic guides (<rPh>) left out."""

    def __init__(self):
        super().__init__()
        self.strings = _SharedStrings()
        self.phonetic = False

    def start(self, tag, attrs):
        if tag == "si":
            self.begin_text()
        elif tag == "t":
            self.collecting = not self.phonetic
        elif tag == "rPh":
            self.phonetic = True

    def end(self, tag):
        if tag == "t":
            self.collecting = False
        elif tag == "rPh":
            self.phonetic = False
        elif tag == "si":
            self.strings.append(self.text, self.cut)


# --- the sheet --------------------------------------------------------------------------

def _merged_down(archive: zipfile.ZipFile, part: str) -> dict[int, list[tuple[int, int]]]:
    """The sheet's merged ranges over more than one row, as first row ->
    [(column from 0, last row)]: a department merged down beside the people
    in it is theirs, though only its first cell holds it. They come after
    the rows (<mergeCells>), so the part is read once before, as bytes: a
    search, no XML parsing. Ranges within one row (a title across columns)
    are left as they are."""
    ranges: dict[int, list[tuple[int, int]]] = {}
    found, tail = 0, b""
    try:
        with archive.open(part) as stream:
            while piece := stream.read(FEED_BYTES):
                text = tail + piece
                end = 0
                if b"mergeCell" not in text:  # most of a sheet: its rows (a search in C, fast)
                    tail = text[-MERGE_TAIL_BYTES:]
                    continue
                for match in MERGE_CELL_RE.finditer(text):
                    end = match.end()
                    first_column, first_row, last_column, last_row = match.groups()
                    first, last = int(first_row), int(last_row)
                    column = _column_number(first_column.decode())
                    if first < last and column < MAX_COLUMNS:
                        ranges.setdefault(first, []).append((column, last))
                        found += 1
                        if found >= MAX_MERGED_RANGES:
                            return ranges
                tail = text[max(end, len(text) - MERGE_TAIL_BYTES):]
    except (zipfile.BadZipFile, zlib.error, EOFError) as error:
        raise _broken(f"{part}: {error}") from None
    return ranges


def _column_number(letters: str) -> int:
    """The column (from 0) of upper-case letters: "A" -> 0, "AB" -> 27."""
    index = 0
    for letter in letters:
        index = index * 26 + ord(letter) - ord("A") + 1
    return index - 1


def read_records(path: str) -> Iterator[tuple[int, list[str], str | None]]:
    """(row number, cells, problem) for each non-blank row of the first
    worksheet, as files.read_records describes."""
    with _open_archive(path) as archive:
        parts = _workbook_parts(archive)
        strings = _SharedStrings()
        if parts.shared_strings:
            reader = _SharedStringsReader()
            _parse_whole(reader, archive, parts.shared_strings)
            strings = reader.strings
        styles = _Styles()
        if parts.styles:
            _parse_whole(styles, archive, parts.styles)
        sheet = _SheetReader(strings, styles, MAC_EPOCH if parts.date1904 else WINDOWS_EPOCH,
                             _merged_down(archive, parts.sheet))
        for _ in sheet.parse(archive, parts.sheet):
            yield from sheet.records
            sheet.records.clear()


class _SheetReader(_PartReader):
    """A worksheet's <row> elements as records, made while the XML streams
    by. A row keeps at most MAX_COLUMNS cells: a value further right makes it
    a problem row (the rest only counted), as does a cell cut at
    MAX_CELL_CHARS. Empty cells are left out, so a row ends at its last value.
    A cell merged down (merged: _merged_down) is filled with its range's
    value in each row of the range that has values of its own."""

    def __init__(self, strings: _SharedStrings, styles: _Styles, epoch: datetime,
                 merged: dict[int, list[tuple[int, int]]] | None = None):
        super().__init__()
        self.merged = merged or {}
        self.filling: list[tuple[int, int, str]] = []  # (column, last row, value) of the ranges open
        self.strings = strings
        self.dates = styles.dates
        self.durations = styles.durations
        self.epoch = epoch
        self.records: list[tuple[int, list[str], str | None]] = []  # made since the caller took them
        self.row_number = 0
        self.cells: list[str] | None = None  # of the row being read
        self.width = 0  # its width in columns past MAX_COLUMNS, if a value lies there
        self.long_column: int | None = None  # its first cell cut at MAX_CELL_CHARS
        self.column = -1  # index of the cell being read
        self.cell_type = "n"
        self.cell_style: str | None = None
        self.phonetic = False

    # The handlers below run for every element of the sheet: flat, for speed.
    def _on_start(self, name, attrs):
        self.depth += 1
        if self.depth > MAX_XML_DEPTH:
            raise _too_deep()
        tag = TAGS.get(name)
        if tag == "c":
            reference = attrs.get("r")
            column = COLUMN_INDEX.get(reference.rstrip(DIGITS)) if reference else None
            self.column = self._column_index(reference) if column is None else column
            self.cell_type = attrs.get("t", "n")
            self.cell_style = attrs.get("s")
            self.text, self.cut = "", False
        elif tag == "v":
            self.collecting = True
        elif tag == "row":
            self._start_row(attrs.get("r"))
        elif tag == "t":
            self.collecting = not self.phonetic
        elif tag == "rPh":
            self.phonetic = True

    def _on_end(self, name):
        self.depth -= 1
        tag = TAGS.get(name)
        if tag == "v" or tag == "t":
            self.collecting = False
        elif tag == "c":
            self._end_cell()
        elif tag == "row":
            self._end_row()
        elif tag == "rPh":
            self.phonetic = False

    def _start_row(self, declared: str | None) -> None:
        """Row numbers are the sheet's own, but always increasing and within
        Excel's limit: a number that is not is taken as the next row."""
        number = _integer(declared)
        self.row_number = number if self.row_number < number <= EXCEL_MAX_ROWS else self.row_number + 1
        self.cells, self.width, self.long_column, self.column = [], 0, None, -1

    def _column_index(self, reference: str | None) -> int:
        """The column (from 0) of a cell reference such as "AB12" beyond
        COLUMN_INDEX; a cell without a usable one follows the cell before it."""
        letters = reference.rstrip(DIGITS) if reference else ""
        if not (0 < len(letters) <= 3 and letters.isascii() and letters.isalpha() and letters.isupper()):
            return self.column + 1
        return _column_number(letters)

    def _end_cell(self) -> None:
        text, column, cells = self.text, self.column, self.cells
        if not text or cells is None:  # an empty cell, or a cell outside any row
            return
        if column >= MAX_COLUMNS:  # only counted: is there a value that far right?
            if text.strip() and (self.cell_type != "s" or self._shared_string(text).strip()):
                self.width = max(self.width, column + 1)
            return
        value = self._value(text)
        if not value:
            return
        if self.cut and self.long_column is None:
            self.long_column = column + 1
        if column >= len(cells):
            if column > len(cells):
                cells.extend([""] * (column - len(cells)))
            cells.append(value)
        else:
            cells[column] = value

    def _value(self, text: str) -> str:
        """A cell's text as the person sees it, from its type (t attribute)."""
        kind = self.cell_type
        if kind == "n":
            return self._number(text)
        if kind == "s":
            return self._shared_string(text)
        if kind == "b":
            return BOOLEANS.get(text.strip(), text)
        if kind == "d":
            return _iso_date_text(text)
        return text  # "str" (a formula's result), "inlineStr", "e" (an error such as #N/A)

    def _shared_string(self, text: str) -> str:
        try:
            index = int(text)
            value = self.strings.get(index)
        except (ValueError, IndexError):
            raise _broken(f"row {self.row_number:,} refers to a shared string {text[:20]} that does not exist") \
                from None
        if index in self.strings.cut:
            self.cut = True
        return value

    def _number(self, text: str) -> str:
        """As openpyxl reads it: an int or a float, a date (or a duration)
        when its cell format shows one; a float that is a whole number
        without ".0"."""
        try:
            number = float(text) if ("." in text or "e" in text or "E" in text) else int(text)
        except ValueError:
            return text
        style = self.cell_style
        if style in self.dates:
            try:
                return _cell_text(from_excel(number, self.epoch, timedelta=style in self.durations))
            except (OverflowError, ValueError):
                return "#VALUE!"  # as openpyxl: a date format on a number no date can have
        return _cell_text(number)

    def _end_row(self) -> None:
        cells, number = self.cells, self.row_number
        self.cells = None
        if self.width:
            problem = f"Row {number:,} has more than {MAX_COLUMNS:,} columns ({self.width:,} found)."
        elif self.long_column:
            problem = (f"Row {number:,} has a cell longer than {MAX_CELL_CHARS:,} characters "
                       f"(column {self.long_column:,}).")
        elif any(map(str.strip, cells)):
            problem = None
        else:
            problem = ""  # a blank row
        if self.merged or self.filling:
            self._fill_merged(number, cells, blank=problem == "")
        if problem != "":
            self.records.append((number, cells, problem))

    def _fill_merged(self, number: int, cells: list[str], blank: bool) -> None:
        """The ranges merged down that start on this row take its values;
        those it is inside give theirs to its empty cells (not to a blank
        row: merged cells alone do not make a person)."""
        filling = [entry for entry in self.filling if entry[1] >= number]
        if not blank:
            for column, _, value in filling:
                if column >= len(cells):
                    cells.extend([""] * (column + 1 - len(cells)))
                if not cells[column].strip():
                    cells[column] = value
        for column, last in self.merged.pop(number, ()):
            if column < len(cells) and cells[column].strip():
                filling.append((column, last, cells[column]))
        self.filling = filling


def _iso_date_text(text: str) -> str:
    try:
        value = from_ISO8601(text)
    except ValueError:
        return text
    return _cell_text(value) if value is not None else text


def _cell_text(value) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # Excel stores 1042 as 1042.0: the ID is "1042"
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == time(0) else value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


# --- the progress bar's estimate ---------------------------------------------------------

def estimate_rows(path: str) -> int | None:
    """The last row the first sheet's <dimension> claims, but no more rows
    than the sheet's size could hold; None without a dimension. A hint for
    the progress bar, never used to size anything."""
    with _open_archive(path) as archive:
        sheet = _workbook_parts(archive).sheet
        reader = _DimensionReader()
        for _ in reader.parse(archive, sheet):
            if reader.done:
                break
        size = archive.NameToInfo[sheet].file_size
    return min(reader.last_row, size // SMALLEST_ROW_BYTES) if reader.last_row else None


class _DimensionReader(_PartReader):
    """A sheet's <dimension ref="A1:L1001">, which comes before its rows."""

    def __init__(self):
        super().__init__()
        self.last_row = 0
        self.done = False

    def start(self, tag, attrs):
        if tag == "dimension":
            self.last_row = _integer(attrs.get("ref", "").rpartition(":")[2].lstrip("ABCDEFGHIJKLMNOPQRSTUVWXYZ"))
        self.done = self.done or tag in ("dimension", "sheetData")

    def end(self, tag):
        pass
