"""Reading uploads in bounded memory, whatever the file: the readers of
files.py and xlsx.py on hostile and ordinary files built here, in process."""
import csv
import gc
import io
import random
import threading
import time
import zipfile
from datetime import datetime

import psutil
import pytest
from openpyxl import Workbook

from employee_app.services.importer import files, xlsx

from ..workbooks import MAIN, WORKBOOK, write_workbook
from employee_app.services.importer.files import (
    MAX_CELL_CHARS, MAX_COLUMNS, MAX_ROW_CHARS, FileFormat, FileRefused, detect_format, estimate_xlsx_rows,
    read_records,
)

CSV = FileFormat("csv", "utf-8-sig", ",")
XLSX = FileFormat("xlsx")
MEMORY_BOUND_MB = 50


def peak_memory_mb(read):
    """(what read() returns, the most the process's RSS grew while it ran, in
    MB), RSS sampled every 5 ms in a thread. Memory freed by earlier tests
    may be reused unseen: this catches growth of tens of MB, as the readers
    before these limits showed (gigabytes), not of a few."""
    gc.collect()
    process = psutil.Process()
    start = process.memory_info().rss
    peak = [start]
    done = threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], process.memory_info().rss)
            time.sleep(0.005)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        result = read()
    finally:
        done.set()
        sampler.join()
    return result, (peak[0] - start) / (1024 * 1024)


def summary(path, file_format):
    """(number, cell count, problem) of each record: what a test can hold."""
    return [(number, len(cells), problem) for number, cells, problem in read_records(path, file_format)]


def refusal(path) -> FileRefused:
    with pytest.raises(FileRefused) as refused:
        detect_format(str(path))
    return refused.value


# --- CSV ---------------------------------------------------------------------------

@pytest.mark.parametrize("megabytes, cell", [(50, b"a,"), (10, b"abcdefghi,")])
def test_a_line_of_megabytes_is_refused_up_front_and_read_in_bounded_memory(tmp_path, megabytes, cell):
    path = tmp_path / "one-line.csv"
    line = cell * (megabytes * 1024 * 1024 // len(cell))
    path.write_bytes(b"employee_id,name\r\n" + line + b"\r\nE3,Ada\r\n")

    refused = refusal(path)
    assert refused.status == 413
    assert refused.message == (f"Line 2 is {len(line):,} characters long; a row may hold at most 1,048,576. "
                               f"Is this really a CSV file?")

    records, grown = peak_memory_mb(lambda: list(read_records(str(path), CSV)))
    assert grown < MEMORY_BOUND_MB
    assert [(number, problem) for number, _, problem in records] == [
        (1, None), (2, f"Row 2 has more than 1,048,576 characters ({len(line):,} found)."), (3, None)]
    assert len(records[1][1]) == MAX_COLUMNS and records[2][1] == ["E3", "Ada"]


def test_a_line_at_the_limit_is_read_and_one_past_it_is_a_problem_numbered_right(tmp_path):
    at_limit, past_limit = tmp_path / "at.csv", tmp_path / "past.csv"
    at_limit.write_text("id,note\r\nE1," + "x" * (MAX_ROW_CHARS - 3) + "\r\nE3,y\r\n", newline="")
    assert detect_format(str(at_limit)).kind == "csv"
    # Past it by one: the read limit falls between the line's "\r" and "\n".
    past_limit.write_text("id,note\r\nE1," + "x" * (MAX_ROW_CHARS - 2) + "\r\nE3,y\r\n", newline="")
    assert refusal(past_limit).status == 413

    assert summary(str(at_limit), CSV)[1:] == [
        (2, 2, "Row 2 has a cell longer than 32,767 characters (column 2)."), (3, 2, None)]
    assert summary(str(past_limit), CSV)[1:] == [
        (2, 2, "Row 2 has more than 1,048,576 characters (1,048,577 found)."), (3, 2, None)]


def test_a_record_with_thousands_of_columns_is_a_problem_and_reading_goes_on(tmp_path):
    path = tmp_path / "wide.csv"
    wide = ",".join(f"c{i}" for i in range(5000))
    path.write_text(f"employee_id,name\nE1,Ada\n{wide}\nE4,Grace\n,,,,\nE6,{',' * 300}\n")
    records = list(read_records(str(path), detect_format(str(path))))
    assert [(n, p) for n, _, p in records] == [
        (1, None), (2, None), (3, "Row 3 has more than 200 columns (5,000 found)."), (4, None), (6, None)]
    assert records[2][1] == [f"c{i}" for i in range(MAX_COLUMNS)]
    assert records[3][1] == ["E4", "Grace"]
    assert records[4][1] == ["E6"]  # empty cells past the limit do not count


@pytest.mark.parametrize("long_cell, text", [
    ("x" * 40_000, "x" * 40_000),
    ('"' + 'a; ""quoted"" ' * 3_000 + '"', 'a; "quoted" ' * 3_000),  # delimiters and quotes inside quotes
])
def test_a_cell_past_excel_s_limit_is_a_problem_with_its_text_cut(tmp_path, long_cell, text):
    path = tmp_path / "long-cell.csv"
    path.write_text(f"employee_id;note;name\nE1;{long_cell};Ada\nE3;short;Grace\n")
    file_format = detect_format(str(path))
    assert file_format.delimiter == ";"  # sniffed from the lines before the long cell
    records = list(read_records(str(path), file_format))
    assert [(n, p) for n, _, p in records] == [
        (1, None), (2, "Row 2 has a cell longer than 32,767 characters (column 2)."), (3, None)]
    cells = records[1][1]
    assert cells == ["E1", text[:MAX_CELL_CHARS], "Ada"]
    assert records[2][1] == ["E3", "short", "Grace"]


def test_after_an_unclosed_quote_reading_goes_on_at_the_line_after_the_limit(tmp_path):
    path = tmp_path / "stray-quote.csv"
    rows = "".join(f"E{n},Name {n}\n" for n in range(3, 5003))
    path.write_text(f'employee_id,name\nE2,"Bob Smith\n{rows}')
    records = list(read_records(str(path), detect_format(str(path))))
    # The quoted cell runs on over the next lines until it passes the limit;
    # the line where it did ends the problem record (record 2), and the
    # lines after it are records 3, 4 ...
    assert records[1][0] == 2 and records[1][2] == "Row 2 has a cell longer than 32,767 characters (column 2)."
    assert records[1][1][1].startswith("Bob Smith\nE3,Name 3\n")
    first_after = int(records[2][1][0][1:])
    assert 2_000 < first_after < 3_000  # 32,767 characters of lines of about 15
    assert records[2:] == [(number, [f"E{n}", f"Name {n}"], None)
                           for number, n in enumerate(range(first_after, 5003), start=3)]


def test_a_record_over_many_lines_inside_quotes_is_stopped_at_the_row_limit(tmp_path):
    path = tmp_path / "many-lines.csv"
    # Thousands of quoted cells each holding a line break: no line is long.
    path.write_text("employee_id,name\n" + '"a\nb",' * 300_000 + "\nE9,Ada\n")
    records, grown = peak_memory_mb(lambda: list(read_records(str(path), CSV)))
    assert grown < MEMORY_BOUND_MB
    assert records[1][0] == 2 and records[1][2].startswith("Row 2 has more than 1,048,576 characters")
    assert len(records[1][1]) == MAX_COLUMNS and records[1][1][0] == "a\nb"
    assert records[-1][1] == ["E9", "Ada"]  # the rest of the record reads as rows of its own, then the file goes on


def test_ordinary_csv_records_quoted_line_breaks_blank_lines_and_a_late_nul(tmp_path):
    path = tmp_path / "ordinary.csv"
    filler = "".join(f"F{i},Filler\r\n" for i in range(7000))  # past the first 64 KB
    path.write_bytes(("\ufeffemployee_id,name\r\nE1,\"Ada\r\nLovelace\"\r\n\r\n   ,  \r\n" + filler
                      + "E9,Nul\x00Byte\r\n").encode())
    assert detect_format(str(path)) == CSV
    records = list(read_records(str(path), CSV))
    assert records[:2] == [(1, ["employee_id", "name"], None), (2, ["E1", "Ada\r\nLovelace"], None)]
    assert records[2][0] == 5  # the blank and the empty record count, unseen
    assert records[-1] == (7005, ["E9", "Nul\x00Byte"], None)  # left for the pipeline to reject


def test_a_windows_1252_file_with_semicolons(tmp_path):
    path = tmp_path / "windows.csv"
    path.write_bytes("employee_id;first_name\r\nW1;Jürgen\r\n".encode("cp1252"))
    file_format = detect_format(str(path))
    assert (file_format.encoding, file_format.delimiter) == ("cp1252", ";")
    assert [cells for _, cells, _ in read_records(str(path), file_format)] == [["employee_id", "first_name"],
                                                                               ["W1", "Jürgen"]]


def test_a_refused_record_s_cells_are_split_as_csv_splits_them():
    pieces = ["a", "", " b ", '"q,1"', '"x""y"', '"ab"cd', 'e"f', '"multi\nline"', "x" * 5]
    rng = random.Random(8)
    for _ in range(2000):
        text = ",".join(rng.choice(pieces) for _ in range(rng.randint(1, 8))) or "a"
        assert files._record_cells(text + "\r\n", ",") == (next(csv.reader(io.StringIO(text + "\r\n"))), None)


# --- XLSX --------------------------------------------------------------------------

def test_cell_types_as_a_person_sees_them(tmp_path):
    shared = ('<si><t>Ada</t></si>'
              '<si><r><rPr><b/></rPr><t>Love</t></r><r><t xml:space="preserve">lace </t></r>'
              '<rPh sb="0" eb="4"><t>ラブレース</t></rPh></si>')
    path = write_workbook(tmp_path / "types.xlsx", (
        '<row r="1"><c r="A1" t="s"><v>0</v></c><c r="B1" t="s"><v>1</v></c>'
        '<c r="C1" t="inlineStr"><is><r><t>in</t></r><r><t>line</t></r></is></c>'
        '<c r="D1" t="b"><v>1</v></c><c r="E1" t="b"><v>0</v></c></row>'
        '<row r="3"><c r="A3" s="1"><v>45352</v></c><c r="B3"><v>1042.0</v></c><c r="C3"><v>3.25</v></c>'
        '<c r="E3" t="e"><v>#N/A</v></c><c r="F3" t="str"><f>A1&amp;B1</f><v>AdaLovelace</v></c>'
        '<c r="G3" t="d"><v>2024-03-01T00:00:00</v></c><c r="H3" s="2"><v>45352.5</v></c>'
        '<c r="I3"><v>1E3</v></c><c r="J3" s="1"/></row>'), shared_strings=shared)
    assert detect_format(path) == XLSX
    assert list(read_records(path, XLSX)) == [
        (1, ["Ada", "Lovelace ", "inline", "TRUE", "FALSE"], None),
        (3, ["2024-03-01", "1042", "3.25", "", "#N/A", "AdaLovelace", "2024-03-01", "2024-03-01T12:00:00",
             "1000"], None),
    ]


def test_the_1904_date_system(tmp_path):
    path = write_workbook(tmp_path / "mac.xlsx", '<row r="1"><c r="A1" s="1"><v>43890</v></c></row>',
                          date1904=1)
    assert list(read_records(path, XLSX)) == [(1, ["2024-03-01"], None)]


def test_an_ordinary_workbook_from_openpyxl(tmp_path):
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(["EmployeeNumber", "GivenName", "Surname", "Hire Date", "Email"])
    sheet.append([1042, "Grace", "Hopper", datetime(2020, 5, 17), "grace@example.com"])
    sheet.append([1043.0, "Katherine", "Johnson", "2019-01-07", None])
    sheet.append([])
    sheet.append(["X-9", "", "Nameless", None, None])
    path = str(tmp_path / "staff.xlsx")
    workbook.save(path)
    assert detect_format(path) == XLSX
    assert list(read_records(path, XLSX)) == [
        (1, ["EmployeeNumber", "GivenName", "Surname", "Hire Date", "Email"], None),
        (2, ["1042", "Grace", "Hopper", "2020-05-17", "grace@example.com"], None),
        (3, ["1043", "Katherine", "Johnson", "2019-01-07"], None),
        (5, ["X-9", "", "Nameless"], None),
    ]
    assert estimate_xlsx_rows(path) == 5


def test_a_hidden_first_sheet_is_passed_over_for_the_first_visible_one(tmp_path):
    """A workbook opens on what a person sees: a hidden sheet of instructions
    or lookups before it is not the staff list. (Excel keeps one sheet
    visible; a file made otherwise with all hidden is read from its first.)"""
    workbook = Workbook()
    workbook.active.title = "Instructions"
    workbook.active.append(["Fill in the Staff sheet"])
    workbook.active.sheet_state = "hidden"
    for title, state in (("Lookups", "veryHidden"), ("Staff", "visible"), ("Later", "visible")):
        sheet = workbook.create_sheet(title)
        sheet.append([f"{title} A1"])
        sheet.sheet_state = state
    workbook.active = 2
    path = str(tmp_path / "staff.xlsx")
    workbook.save(path)
    assert list(read_records(path, XLSX)) == [(1, ["Staff A1"], None)]


def test_an_empty_first_sheet_is_passed_over_for_the_first_with_values(tmp_path):
    """A blank cover sheet, or a "Sheet1" added and never used, before the
    staff list: the list is read, not "The file is empty". A sheet whose
    cells are only formatted or hold blanks counts as empty."""
    workbook = Workbook()
    workbook.active.title = "Cover"
    workbook.active["B2"].number_format = "0.00"  # formatted, no value
    workbook.active["C3"] = "   "
    for title in ("Staff", "Later"):
        workbook.create_sheet(title).append(["employee_id", f"{title} B1"])
    path = str(tmp_path / "staff.xlsx")
    workbook.save(path)
    assert list(read_records(path, XLSX)) == [(1, ["employee_id", "Staff B1"], None)]
    assert estimate_xlsx_rows(path) == 1

    every_sheet_empty = Workbook()
    every_sheet_empty.create_sheet("Also empty")
    every_sheet_empty.save(path)
    assert list(read_records(path, XLSX)) == []


def test_a_department_merged_down_beside_its_people_is_each_ones(tmp_path):
    """Excel keeps a merged range's value in its first cell only; a person
    reads it on every row of the range. Rows without values of their own
    stay blank, and a title merged across columns stays one cell."""
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(["Staff list, March 2026"])
    sheet.append(["employee_id", "last_name", "department", "email"])
    sheet.append(["E1", "Lovelace", "Engineering", "ada@example.com"])
    sheet.append(["E2", "Hopper", None, "grace@example.com"])
    sheet.append(["E3", "Turing", None, None])
    sheet.append(["E4", "Johnson", "Sales", "kj@example.com"])
    sheet.append(["E5", "Noether", None, "en@example.com"])
    sheet.merge_cells("A1:D1")
    sheet.merge_cells("C3:C5")
    sheet.merge_cells("C6:C9")  # past the last row with values: rows 7 to 9 stay blank
    sheet.merge_cells("D4:D5")  # Hopper's e-mail merged down to Turing's row
    path = str(tmp_path / "merged.xlsx")
    workbook.save(path)
    assert list(read_records(path, XLSX)) == [
        (1, ["Staff list, March 2026"], None),
        (2, ["employee_id", "last_name", "department", "email"], None),
        (3, ["E1", "Lovelace", "Engineering", "ada@example.com"], None),
        (4, ["E2", "Hopper", "Engineering", "grace@example.com"], None),
        (5, ["E3", "Turing", "Engineering", "grace@example.com"], None),
        (6, ["E4", "Johnson", "Sales", "kj@example.com"], None),
        (7, ["E5", "Noether", "Sales", "en@example.com"], None),
    ]


def test_hostile_merged_ranges_are_read_in_bounded_time_and_memory(tmp_path):
    """A <mergeCell> split between two reads of the part, with a prefix,
    reversed, past Excel's rows or MAX_COLUMNS, and 100,000 of them."""
    rows = "".join(f'<row r="{n}"><c r="A{n}" t="inlineStr"><is><t>E{n}</t></is></c>'
                   + ('<c r="B1" t="inlineStr"><is><t>Sales</t></is></c>' if n == 1 else "") + "</row>"
                   for n in range(1, 5))
    head = f'<worksheet xmlns="{MAIN}"><sheetData>{rows}</sheetData><mergeCells>'
    split = '<x:mergeCell xmlns:x="{MAIN}" ref="B1:B3"/>'.replace("{MAIN}", MAIN)
    padding = "<!--" + "p" * (xlsx.FEED_BYTES - len(head.encode()) - 10 - 7) + "-->"  # the tag spans the boundary
    merges = ("<mergeCells>" + padding + split + '<mergeCell ref="A4:A2"/><mergeCell ref="GZ1:GZ4"/><mergeCell ref="ZZZ1:ZZZ9"/>'
              + "".join(f'<mergeCell ref="C{n}:C{n + 1}"/>' for n in range(10, 100_010)) + "</mergeCells>")
    path = write_workbook(tmp_path / "merges.xlsx", rows, after_data=merges)
    assert (len(head) + len(padding)) < xlsx.FEED_BYTES < (len(head) + len(padding) + len(split))
    started = time.perf_counter()
    assert list(read_records(path, XLSX)) == [(1, ["E1", "Sales"], None), (2, ["E2", "Sales"], None),
                                              (3, ["E3", "Sales"], None), (4, ["E4"], None)]
    assert time.perf_counter() - started < 5


def test_a_300_mb_cell_is_refused_as_a_zip_bomb_and_read_in_bounded_memory(tmp_path):
    chunk = b"a" * (1024 * 1024)
    path = write_workbook(tmp_path / "bomb.xlsx", [b'<row r="1"><c r="A1" t="inlineStr"><is><t>',
                                                   *[chunk] * 300, b'</t></is></c><c r="B1"><v>7</v></c></row>'])
    refused = refusal(path)
    assert refused.status == 413
    assert refused.message.startswith("The workbook expands to 300 MB from ")
    assert refused.message.endswith("more than 100 times its size: it looks like a ZIP bomb and is refused.")

    records, grown = peak_memory_mb(lambda: list(read_records(path, XLSX)))
    assert grown < MEMORY_BOUND_MB
    [(number, cells, problem)] = records
    assert (number, problem) == (1, "Row 1 has a cell longer than 32,767 characters (column 1).")
    assert cells == ["a" * MAX_CELL_CHARS, "7"]


def test_three_million_cells_in_one_row_are_a_problem_row_read_in_bounded_memory(tmp_path):
    block = b"<c><v>1</v></c>" * 100_000
    path = write_workbook(tmp_path / "wide.xlsx", [b'<row r="1">', *[block] * 30,
                                                   b'</row><row r="2"><c r="A2"><v>7</v></c></row>'])
    assert refusal(path).status == 413  # it expands too much to be let in at all

    summaries, grown = peak_memory_mb(lambda: summary(path, XLSX))
    assert grown < MEMORY_BOUND_MB
    assert summaries == [(1, MAX_COLUMNS, "Row 1 has more than 200 columns (3,000,000 found)."), (2, 1, None)]


def test_values_past_the_column_limit_make_a_problem_but_empty_cells_there_do_not(tmp_path):
    path = write_workbook(tmp_path / "far.xlsx", (
        '<row r="1"><c r="A1"><v>1</v></c><c r="HZ1"><v>2</v></c></row>'
        '<row r="2"><c r="A2"><v>1</v></c><c r="HZ2" s="1"/><c r="XFD2" t="s"><v>0</v></c></row>'),
        shared_strings="<si><t> </t></si>")
    assert summary(path, XLSX) == [(1, 1, "Row 1 has more than 200 columns (234 found)."),
                                   (2, 1, None)]


def test_the_sheet_dimension_is_only_a_hint(tmp_path):
    rows = "".join(f'<row r="{r}"><c r="A{r}"><v>{r}</v></c><c r="B{r}" t="inlineStr"><is><t>x</t></is></c>'
                   f'<c r="C{r}"><v>3</v></c></row>' for r in range(1, 4))
    path = write_workbook(tmp_path / "claims.xlsx", rows, dimension='<dimension ref="A1:XFD1048576"/>')
    assert [cells for _, cells, _ in read_records(path, XLSX)] == [[str(r), "x", "3"] for r in range(1, 4)]
    assert estimate_xlsx_rows(path) < 100  # not 1,048,576: the sheet is a few hundred bytes


def test_a_shared_string_past_the_cell_limit_is_kept_cut(tmp_path):
    path = write_workbook(tmp_path / "long-shared.xlsx",
                          '<row r="2"><c r="A2" t="s"><v>0</v></c><c r="B2" t="s"><v>1</v></c></row>',
                          shared_strings=f"<si><t>ok</t></si><si><t>{'b' * 40_000}</t></si>")
    [(number, cells, problem)] = read_records(path, XLSX)
    assert (number, problem) == (2, "Row 2 has a cell longer than 32,767 characters (column 2).")
    assert cells == ["ok", "b" * MAX_CELL_CHARS]


@pytest.mark.parametrize("where", ["sheet", "workbook"])
def test_xml_with_a_doctype_is_refused(tmp_path, where):
    doctype = '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;">]>'
    if where == "sheet":
        path = write_workbook(tmp_path / "entities.xlsx", '<row r="1"><c r="A1" t="inlineStr"><is><t>&b;</t>'
                              '</is></c></row>', prolog=doctype)
        with pytest.raises(FileRefused, match="DOCTYPE"):
            list(read_records(path, XLSX))
    else:
        path = write_workbook(tmp_path / "entities.xlsx", "", workbook=doctype + WORKBOOK.format(date1904=0))
        assert "DOCTYPE" in refusal(path).message


@pytest.mark.parametrize("sheet_data, reason", [
    ("<!--" + "x" * (1024 * 1024 + 100_000) + "-->", "longer than 1 MB"),
    ("<row>" + "<is>" * 150 + "</is>" * 150 + "</row>", "nested more than 100 deep"),
    ("".join(f"<x{i}/>" for i in range(11_000)), "more than 10,000 different XML names"),
])
def test_xml_built_to_make_expat_hold_a_lot_is_refused(tmp_path, sheet_data, reason):
    path = write_workbook(tmp_path / "hostile.xlsx", sheet_data)
    with pytest.raises(FileRefused, match=reason):
        list(read_records(path, XLSX))


def test_zip_files_that_are_not_workbooks_we_read(tmp_path, monkeypatch):
    not_a_workbook = tmp_path / "photos.zip"
    with zipfile.ZipFile(not_a_workbook, "w") as archive:
        archive.writestr("photo.jpg", b"\xff\xd8")
    assert "not an Excel workbook" in refusal(not_a_workbook).message

    many_parts = tmp_path / "many.xlsx"
    with zipfile.ZipFile(many_parts, "w") as archive:
        archive.writestr("xl/workbook.xml", WORKBOOK.format(date1904=0))
        for i in range(10_001):
            archive.writestr(f"xl/media/{i}.bin", b"")
    refused = refusal(many_parts)
    assert refused.status == 413 and "10,002 parts" in refused.message

    no_sheet = tmp_path / "no-sheet.xlsx"
    with zipfile.ZipFile(no_sheet, "w") as archive:
        archive.writestr("xl/workbook.xml", f'<workbook xmlns="{MAIN}"><sheets/></workbook>')
    assert refusal(no_sheet).message == "The workbook has no worksheet."

    monkeypatch.setattr(xlsx, "XLSX_MAX_UNCOMPRESSED_BYTES", 1000)
    ordinary = write_workbook(tmp_path / "ordinary.xlsx", '<row r="1"><c r="A1"><v>1</v></c></row>')
    refused = refusal(ordinary)
    assert refused.status == 413 and "can be imported" in refused.message
