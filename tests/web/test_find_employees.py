"""Finding employees: search, filters, sorting and keyset pagination over a
few thousand rows loaded with COPY; exact filter counts; the list's state
carried to a record and back; bulk actions seen from the list; the empty app."""
import random
import re
import time
from datetime import date, timedelta
from html import unescape
from urllib.parse import parse_qs, urlsplit

import pytest

from ..helpers import csrf_token

ROW_ID_RE = re.compile(r'<td><a href="/employees/([^"?]+)')  # the list's parameters follow a "?"
NEXT_RE = re.compile(r'<a href="([^"]+)" rel="next">')
PREV_RE = re.compile(r'<a href="([^"]+)" rel="prev">')
COUNT_RE = re.compile(r'id="result-count" role="status">([^<]*)<')

LAST_NAMES = ["Okafor", "Smith", "Smithson", "Nakamura", "García", "Müller", "O'Brien", "Kowalski",
              "Andersson", "Dubois", "Rossi", "Haddad"]
FIRST_NAMES = ["Ada", "Grace", "Alan", "Chidi", "Yuki", "Lucía", "Jonas", "Siobhán", "Piotr", "Amira"]
DEPARTMENTS = ["Engineering", "Finance", "Sales", "Warehouse"]
STATUSES = ["active"] * 8 + ["on_leave", "terminated"]
ROWS = 3000


@pytest.fixture
def staff(app, pg):
    """3,000 employees loaded with COPY; returns them as dicts."""
    rng = random.Random(1234)
    department_ids = {}
    for name in DEPARTMENTS:
        department_ids[name] = pg.execute("INSERT INTO departments (name) VALUES (%s) RETURNING id",
                                          (name,)).fetchone()[0]
    people = []
    for n in range(ROWS):
        hire = None if n % 50 == 0 else date(2000, 1, 1) + timedelta(days=rng.randrange(9000))
        people.append({
            "employee_id": f"E{n:05d}", "first_name": rng.choice(FIRST_NAMES),
            "last_name": rng.choice(LAST_NAMES), "email": f"person{n}@example.com" if n % 7 else None,
            "department": rng.choice(DEPARTMENTS), "hire_date": hire, "status": rng.choice(STATUSES),
        })
    with pg.cursor() as cursor:
        with cursor.copy("COPY employees (employee_id, first_name, last_name, email, department_id,"
                         " hire_date, status) FROM STDIN") as copy:
            for p in people:
                copy.write_row((p["employee_id"], p["first_name"], p["last_name"], p["email"],
                                department_ids[p["department"]], p["hire_date"], p["status"]))
    pg.execute("ANALYZE employees")
    for p in people:
        p["department_id"] = department_ids[p["department"]]
    return people


def ids_on(html: str) -> list[str]:
    return ROW_ID_RE.findall(html)


def walk(client, path: str, params: dict, link_re=NEXT_RE) -> list[str]:
    """Follow the pager's links to the end; return every ID seen, in order."""
    response = client.get(path, params=params)
    seen = []
    while True:
        assert response.status_code == 200
        seen += ids_on(response.text)
        link = link_re.search(response.text)
        if not link:
            return seen
        response = client.get(unescape(link.group(1)))


def name_key(p):
    return (p["last_name"], p["first_name"], int(p["employee_id"][1:]))


def test_search_matches_id_name_or_email_substring(login, staff):
    viewer = login("viewer")
    expected = [p for p in staff if "smith" in p["last_name"].lower()]  # Smith and Smithson
    found = walk(viewer, "/employees", {"q": "SMITH", "sort": "employee_id"})
    assert found == sorted(p["employee_id"] for p in expected)

    page = viewer.get("/employees", params={"q": "person1234@"})
    assert ids_on(page.text) == ["E01234"]
    assert COUNT_RE.search(page.text).group(1).strip() == "1 employee"

    assert ids_on(viewer.get("/employees", params={"q": "e00042"}).text) == ["E00042"]
    accented = {p["employee_id"] for p in staff if p["last_name"] == "García"}
    assert set(walk(viewer, "/employees", {"q": "garcía"})) == accented
    quote = {p["employee_id"] for p in staff if p["last_name"] == "O'Brien"}
    assert set(walk(viewer, "/employees", {"q": "o'brien"})) == quote
    assert ids_on(viewer.get("/employees", params={"q": "%"}).text) == []  # a literal %, not a wildcard


def test_filters_by_department_and_status(login, staff):
    viewer = login("viewer")
    finance = staff[0]["department_id"] if staff[0]["department"] == "Finance" else \
        next(p["department_id"] for p in staff if p["department"] == "Finance")
    expected = [p for p in staff if p["department"] == "Finance" and p["status"] == "on_leave"]
    response = viewer.get("/employees", params={"department": finance, "status": "on_leave"})
    assert 50 < len(expected) < 100
    assert COUNT_RE.search(response.text).group(1).strip() == f"Showing 1–50 of {len(expected)} employees"
    found = walk(viewer, "/employees", {"department": finance, "status": "on_leave"})
    assert found == [p["employee_id"] for p in sorted(expected, key=name_key)]


def test_pages_in_name_order_forward_and_back_cover_every_row_once(login, staff):
    viewer = login("viewer")
    forward = walk(viewer, "/employees", {"sort": "name"})
    assert forward == [p["employee_id"] for p in sorted(staff, key=name_key)]

    # From the last page, the "previous" links lead back through every row.
    last_page = viewer.get("/employees", params={"sort": "name", "dir": "desc"})
    assert ids_on(last_page.text)[0] == forward[-1]
    response = viewer.get("/employees", params={"sort": "name"})
    for _ in range(3):
        response = viewer.get(unescape(NEXT_RE.search(response.text).group(1)))
    page4 = ids_on(response.text)
    back = viewer.get(unescape(PREV_RE.search(response.text).group(1)))
    assert ids_on(back.text) == forward[100:150] and page4 == forward[150:200]


def test_sorts_by_id_descending_and_by_hire_date_with_blanks_last(login, staff):
    viewer = login("viewer")
    by_id_desc = ids_on(viewer.get("/employees", params={"sort": "employee_id", "dir": "desc"}).text)
    assert by_id_desc[:3] == ["E02999", "E02998", "E02997"]

    by_hire = walk(viewer, "/employees", {"sort": "hire_date"})
    hire_key = lambda p: (p["hire_date"] or date.max, int(p["employee_id"][1:]))  # noqa: E731
    assert by_hire == [p["employee_id"] for p in sorted(staff, key=hire_key)]

    by_status = ids_on(viewer.get("/employees", params={"sort": "status"}).text)
    first = next(p for p in staff if p["employee_id"] == by_status[0])
    assert first["status"] == "active"


def test_sort_headers_and_count_for_a_large_table(login, staff):
    viewer = login("viewer")
    page = viewer.get("/employees", params={"sort": "hire_date"}).text
    assert 'aria-sort="ascending"' in page
    assert COUNT_RE.search(page).group(1).strip() == "Showing 1–50 of 3,000 employees"
    assert len(ids_on(page)) == 50


def test_the_whole_list_is_counted_exactly_when_small_also_between_analyzes(login, staff, pg):
    """Up to FILTER_COUNT_CAP rows the whole list is counted, not taken from
    the planner's estimate, which only moves at the next ANALYZE."""
    pg.execute("INSERT INTO employees (employee_id, first_name, last_name) VALUES ('N1', 'A', 'B'), ('N2', 'C', 'D')")
    pg.execute("DELETE FROM employees WHERE employee_id = 'E00007'")
    viewer = login("viewer")
    assert COUNT_RE.search(viewer.get("/employees").text).group(1).strip() == "Showing 1–50 of 3,001 employees"


def test_a_tampered_cursor_shows_the_first_page(login, staff):
    viewer = login("viewer")
    first = ids_on(viewer.get("/employees").text)
    for cursor in ("garbage", "WyJhIl0", "W1sxLDIsM10sZmFsc2Vd"):
        response = viewer.get("/employees", params={"cursor": cursor})
        assert response.status_code == 200
        assert ids_on(response.text) == first


def test_show_one_employee_and_a_missing_one(login, staff):
    viewer = login("viewer")
    person = staff[17]
    page = viewer.get(f"/employees/{person['employee_id'].lower()}")
    assert page.status_code == 200
    assert person["employee_id"] in page.text and person["department"] in page.text
    missing = viewer.get("/employees/NOPE-1")
    assert missing.status_code == 404 and "No employee has the ID NOPE-1" in missing.text
    # The address's text quoted back cannot reorder the page (U+202E) nor hide in it.
    tricky = unescape(viewer.get("/employees/%E2%80%AEnope%E2%80%8B" + "x" * 500).text)
    assert "No employee has the ID \ufffdnope\ufffd" + "x" * 30 in tricky and "\u202e" not in tricky


def test_a_short_search_matches_whole_words(login, staff, pg):
    pg.execute("INSERT INTO employees (employee_id, first_name, last_name) VALUES ('X1', 'Wei', 'Li')")
    viewer = login("viewer")
    # "li" is part of many names (Lucía, Siobhán...) but the whole name of one person.
    page = viewer.get("/employees", params={"q": "LI"}).text
    assert ids_on(page) == ["X1"] and "matches whole words" in page
    assert ids_on(viewer.get("/employees", params={"q": "x1"}).text) == ["X1"]
    # "Al" is nobody's whole name here (Alan is): nothing, and the page says why.
    page = viewer.get("/employees", params={"q": "al"}).text
    assert ids_on(page) == [] and "matches whole words" in page


def test_a_name_typed_as_the_list_shows_it_or_in_any_order_is_found(login, staff, pg):
    """The list shows "Vogt, Harold"; HR staff type it that way, or "vogt
    harold", or start typing "Harold V": each finds him, and only him."""
    pg.execute("INSERT INTO employees (employee_id, first_name, last_name, email) VALUES"
               " ('X2', 'Harold', 'Vogt', 'hv@example.com'), ('X3', 'Ann', 'Vogt', NULL),"
               " ('X4', 'Harold', 'Vogtländer', NULL)")
    viewer = login("viewer")
    for typed in ("Vogt, Harold", "vogt harold", "Harold Vogt", "Harold V", "VOGT,HAROLD", "Vogt H", " vogt ,  harold "):
        assert set(walk(viewer, "/employees", {"q": typed})) == {"X2", "X4"}, typed
    assert ids_on(viewer.get("/employees", params={"q": "Vogt, Harold hv@"}).text) == ["X2"]
    assert set(walk(viewer, "/employees", {"q": "Vogt,"})) == {"X2", "X3", "X4"}  # as "Vogt"
    assert ids_on(viewer.get("/employees", params={"q": "Vogt, Ann"}).text) == ["X3"]
    # Every word must be there; commas and spaces alone match nothing.
    assert ids_on(viewer.get("/employees", params={"q": "Vogt, Zed"}).text) == []
    assert ids_on(viewer.get("/employees", params={"q": ", ,"}).text) == []
    # As many words as the box takes, all different: a clear page, not a slow one.
    many = " ".join(f"w{n}" for n in range(33))[:100]
    response = viewer.get("/employees", params={"q": many})
    assert response.status_code == 200 and ids_on(response.text) == []


def test_a_rare_search_sorted_late_is_found_past_the_index_window(app, staff, monkeypatch):
    """The search walks the sort index for a window of rows, then falls back to
    the trigram index; shrink the window so both paths and their seam run."""
    from employee_app.services import employees

    monkeypatch.setattr(employees, "SEARCH_WINDOW", 40)
    monkeypatch.setattr(employees, "COUNT_CAP", 10)  # "many matches": the window is tried first
    expected = [p["employee_id"] for p in sorted(staff, key=name_key) if p["last_name"] == "Smithson"]
    seen, cursor = [], None
    with app.app_context():
        while True:
            page = employees.search_employees(employees.EmployeeQuery(q="thson", cursor=cursor, per_page=25))
            seen += [e.employee_id for e in page.rows]
            if not page.next_cursor:
                break
            cursor = page.next_cursor
        descending = employees.search_employees(
            employees.EmployeeQuery(q="thson", descending=True, per_page=25))
    assert seen == expected
    assert [e.employee_id for e in descending.rows] == expected[::-1][:25]


# --- sorting: blanks last both ways, IDs as numbers ----------------------------

def walk_back(client, path: str, params: dict) -> list[str]:
    """To the last page by the "next" links, then back by the "previous"
    links: every ID seen on the way back, in the list's order."""
    response = client.get(path, params=params)
    while link := NEXT_RE.search(response.text):
        response = client.get(unescape(link.group(1)))
    pages = [ids_on(response.text)]
    while link := PREV_RE.search(response.text):
        response = client.get(unescape(link.group(1)))
        pages.insert(0, ids_on(response.text))
    return [employee_id for page in pages for employee_id in page]


def test_hire_date_sort_puts_records_without_a_date_last_both_ways_across_pages(login, staff):
    viewer = login("viewer")
    dated = [p for p in staff if p["hire_date"]]
    blank = [p["employee_id"] for p in staff if not p["hire_date"]]  # in id order: the tie-break
    assert len(blank) == 60
    oldest_first = [p["employee_id"] for p in sorted(dated, key=lambda p: (p["hire_date"], p["employee_id"]))]
    newest_first = [p["employee_id"] for p in sorted(dated, key=lambda p: (p["hire_date"], p["employee_id"]),
                                                     reverse=True)]

    assert walk(viewer, "/employees", {"sort": "hire_date"}) == oldest_first + blank
    descending = walk(viewer, "/employees", {"sort": "hire_date", "dir": "desc"})
    assert descending == newest_first + blank[::-1]
    assert walk_back(viewer, "/employees", {"sort": "hire_date", "dir": "desc"}) == descending
    # The header link turns the order round, from its first page.
    page = viewer.get("/employees", params={"sort": "hire_date"}).text
    assert 'href="/employees?sort=hire_date&amp;dir=desc"' in page


def test_ids_sort_as_numbers_and_text_with_numbers_naturally(login, pg):
    numbers = [str(n) for n in range(1, 121)]
    others = ["007", "E2", "E10", "E010", "A-1", "B", "E9"]
    pg.execute("INSERT INTO employees (employee_id, first_name, last_name)"
               " SELECT id, 'Ada', 'Lovelace' FROM unnest(%s::text[]) AS id", (numbers + others,))
    pg.execute("ANALYZE employees")
    viewer = login("viewer")
    # 1, 2, ... 10 ... 120 (not 1, 10, 100, 101 ...), across three pages; the
    # number after a prefix counts too (E2, E9, E10); "007" is 7, next to "7".
    expected = (numbers[:6] + ["007"] + numbers[6:] + ["A-1", "B", "E2", "E9", "E010", "E10"])
    assert walk(viewer, "/employees", {"sort": "employee_id"}) == expected
    assert walk(viewer, "/employees", {"sort": "employee_id", "dir": "desc"}) == expected[::-1]
    assert walk_back(viewer, "/employees", {"sort": "employee_id"}) == expected


# Migration 0006's natural key, with its regular expressions: 0015 replaced
# it by cheaper functions that must give every ID the same keys.
REGEX_NATURAL_KEY = ("regexp_replace(employee_id, '[0-9]{1,18}$', ''), "
                     "coalesce(CAST(substring(employee_id FROM '[0-9]{1,18}$') AS bigint), -1), employee_id")


def test_the_natural_id_order_keeps_the_keys_it_had_with_regular_expressions(app, pg):
    from sqlalchemy import literal_column, select

    from employee_app.extensions import db
    from employee_app.models.employee import NATURAL_ID_KEY

    odd_ids = ["7", "007", "E2", "E010", "A-1", "B", "A0", "A00", "X1Y2", "X1Y", "E\u200b12", "E\u00a012",
               "\u0661\u0662", "\uff11\uff12", "E\u00b2", "1" * 18, "9" * 18, "1" * 19, "E" + "9" * 20,
               "E1" + "0" * 20, "Z" + "1234567890" * 3, "-5", "E-01", "E 1"]
    pg.execute("INSERT INTO employees (employee_id, first_name, last_name) SELECT id, 'Ada', 'Keys'"
               " FROM unnest(%s::text[]) AS id", (odd_ids,))
    with app.app_context():
        new_keys = dict((row[-1], tuple(row)) for row in db.session.execute(
            select(*NATURAL_ID_KEY).where(literal_column("last_name") == "Keys")).all())
        db.session.rollback()
    old_keys = {row[-1]: tuple(row) for row in pg.execute(
        f"SELECT {REGEX_NATURAL_KEY} FROM employees WHERE last_name = 'Keys'").fetchall()}
    assert len(old_keys) == len(odd_ids)
    assert new_keys == old_keys
    # A long number counts by its last 18 digits, as before (always a bigint).
    assert new_keys["E" + "9" * 20] == ("E99", 999_999_999_999_999_999, "E" + "9" * 20)


def test_the_id_order_reads_its_index(app, pg):
    """The list's ORDER BY must be the index's expressions exactly, with its
    constants as literals (a bound parameter in a prepared statement's
    generic plan would not match the index), or every page sorts the table."""
    from sqlalchemy import select
    from sqlalchemy.dialects import postgresql

    from employee_app.models.employee import NATURAL_ID_KEY, Employee

    pg.execute("INSERT INTO employees (employee_id, first_name, last_name)"
               " SELECT 'N' || n, 'Ada', 'Plan' FROM generate_series(1, 20000) AS n")
    pg.execute("ANALYZE employees")
    query = select(Employee.id).order_by(*NATURAL_ID_KEY).limit(51)
    assert list(query.compile(dialect=postgresql.dialect()).params.values()) == [51]
    statement = str(query.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}))
    plan = "\n".join(row[0] for row in pg.execute(f"EXPLAIN {statement}").fetchall())
    assert "Index Scan using ix_employees_employee_id_natural" in plan, plan
    assert "Sort" not in plan, plan


# --- counts ------------------------------------------------------------------

@pytest.fixture
def many(pg):
    """2,400 employees from generate_series: 1,600 in Engineering (1,200 of
    them active), 800 in Sales; IDs P0001..P2400, "Smith" in every name."""
    engineering, sales = (pg.execute("INSERT INTO departments (name) VALUES (%s) RETURNING id", (name,)).fetchone()[0]
                          for name in ("Engineering", "Sales"))
    pg.execute("""
        INSERT INTO employees (employee_id, first_name, last_name, department_id, status)
        SELECT 'P' || lpad(n::text, 4, '0'), 'Ada', 'Smith',
               CASE WHEN n <= 1600 THEN %s ELSE %s END,
               CASE WHEN n <= 1200 THEN 'active' WHEN n <= 1600 THEN 'on_leave' ELSE 'active' END
        FROM generate_series(1, 2400) AS n""", (engineering, sales))
    pg.execute("VACUUM ANALYZE employees")
    return {"engineering": engineering, "sales": sales}


def count_on(response) -> str:
    assert response.status_code == 200, response.status_code
    return count_on_text(response.text)


def count_on_text(html: str) -> str:
    return COUNT_RE.search(html).group(1).strip()


def test_department_and_status_filters_count_exactly_past_a_thousand(login, many):
    viewer = login("viewer")
    for params, expected in (
        ({"department": many["engineering"]}, "Showing 1–50 of 1,600 employees"),
        ({"status": "active"}, "Showing 1–50 of 2,000 employees"),
        ({"department": many["engineering"], "status": "active"}, "Showing 1–50 of 1,200 employees"),
        ({"department": many["sales"], "status": "on_leave"}, "No employees match."),
    ):
        assert count_on(viewer.get("/employees", params=params)) == expected, params
    # Only a free-text search may stop counting.
    assert count_on(viewer.get("/employees", params={"q": "smith"})) == "Showing 1–50 of more than 1,000 matches"


def test_a_very_large_filter_shows_an_estimate_and_says_so(login, pg):
    """Past FILTER_COUNT_CAP (50,000) rows a filter is not counted row by
    row: the page says "about" and PostgreSQL's estimate, to two significant
    digits; below it the count stays exact."""
    from employee_app.services.employees import FILTER_COUNT_CAP

    pg.execute("""
        INSERT INTO employees (employee_id, first_name, last_name, status)
        SELECT 'Q' || n, 'Ada', 'Smith', CASE WHEN n <= 55000 THEN 'active' ELSE 'on_leave' END
        FROM generate_series(1, 60000) AS n""")
    pg.execute("VACUUM ANALYZE employees")
    assert FILTER_COUNT_CAP < 55_000
    viewer = login("viewer")
    shown = count_on(viewer.get("/employees", params={"status": "active"}))
    match = re.fullmatch(r"Showing 1–50 of about (\d+),000 employees", shown)
    assert match, shown
    assert 52 <= int(match.group(1)) <= 58, shown  # ANALYZE samples 30,000 of the 60,000 rows
    assert count_on(viewer.get("/employees", params={"status": "on_leave"})) == "Showing 1–50 of 5,000 employees"
    # The whole list the same way: an estimate, and said to be one.
    match = re.fullmatch(r"Showing 1–50 of about (\d+),000 employees", count_on(viewer.get("/employees")))
    assert match and 57 <= int(match.group(1)) <= 63


def test_showing_which_rows_page_by_page_and_back(login, many):
    viewer = login("viewer")
    params = {"department": many["sales"], "sort": "employee_id"}
    response = viewer.get("/employees", params=params)
    assert count_on(response) == "Showing 1–50 of 800 employees"
    response = viewer.get(unescape(NEXT_RE.search(response.text).group(1)))
    assert count_on(response) == "Showing 51–100 of 800 employees"
    assert ids_on(response.text)[0] == "P1651"
    for _ in range(14):
        response = viewer.get(unescape(NEXT_RE.search(response.text).group(1)))
    assert count_on(response) == "Showing 751–800 of 800 employees" and not NEXT_RE.search(response.text)
    response = viewer.get(unescape(PREV_RE.search(response.text).group(1)))
    assert count_on(response) == "Showing 701–750 of 800 employees"
    # A cursor without its row number (an old bookmark) still shows its rows.
    bare = re.sub(r"&amp;start=\d+", "", NEXT_RE.search(response.text).group(1))
    assert count_on(viewer.get(unescape(bare))) == "800 employees"


@pytest.mark.parametrize("start", ["%00", "-1", "0", "1e3", "٣", "9" * 30, "1" * 2000])
def test_a_bad_row_number_is_a_clear_400(login, many, start):
    viewer = login("viewer")
    response = viewer.get(f"/employees?start={start}&cursor=x")
    assert response.status_code == 400 and "start must be the number of a row." in unescape(response.text)


# --- the list's state, carried to a record and back ---------------------------

def test_a_record_opened_from_the_list_leads_back_to_the_same_list_page(login, many):
    viewer = login("viewer")
    first = viewer.get("/employees", params={"q": "smith", "status": "active", "department": many["sales"],
                                             "sort": "employee_id", "dir": "desc", "junk": "1"})
    page2 = viewer.get(unescape(NEXT_RE.search(first.text).group(1)))
    list_url = unescape(NEXT_RE.search(first.text).group(1))
    link = unescape(re.search(r'<td><a href="(/employees/P2350\?[^"]+)"', page2.text).group(1))
    assert link.startswith("/employees/P2350?") and "junk" not in link
    record = viewer.get(link)
    assert record.status_code == 200
    back = unescape(re.search(r'<a href="([^"]+)">‹ Back to the list</a>', record.text).group(1))
    assert parse_qs(urlsplit(back).query) == parse_qs(urlsplit(list_url).query)
    assert count_on(viewer.get(back)) == "Showing 51–100 of 800 employees"


def test_the_way_back_carries_only_the_lists_parameters(login, many):
    viewer = login("viewer")
    record = viewer.get("/employees/P0001", params={"q": "<script>\x00", "start": "-1", "cursor": "%00",
                                                    "department": "abc", "endpoint": "x", "_scheme": "x"})
    assert record.status_code == 200
    back = unescape(re.search(r'<a href="([^"]+)">‹ Back to the list</a>', record.text).group(1))
    assert urlsplit(back).path == "/employees"
    assert set(parse_qs(urlsplit(back).query)) == {"q", "start", "cursor", "department"}
    assert "<script>" not in record.text
    # The list then checks them as it checks any link (a bad number is a 400).
    assert viewer.get(back).status_code == 400
    assert viewer.get("/employees/P0001").text.count('href="/employees">‹ Back to the list') == 1


# --- what each role sees -------------------------------------------------------

def test_export_button_carries_the_search_and_filters_for_hr_and_admin_only(login, many):
    for role in ("hr", "admin"):
        page = login(role).get("/employees", params={"q": " smith ", "status": "on_leave", "sort": "name"}).text
        link = unescape(re.search(r'<a href="([^"]+)"[^>]*>Export CSV</a>', page).group(1))
        assert urlsplit(link).path == "/employees/export.csv"
        assert parse_qs(urlsplit(link).query) == {"q": ["smith"], "status": ["on_leave"]}
    assert "Export CSV" not in login("viewer").get("/employees").text


def test_bulk_with_nothing_ticked_is_a_message_on_the_list(login, many):
    admin = login("admin")
    list_path = "/employees?status=on_leave"
    page = admin.get(list_path).text
    response = admin.post("/employees", {"csrf_token": csrf_token(page), "action": "status", "status": "terminated",
                                         "next": list_path})
    assert response.status_code == 303 and response.headers["Location"] == list_path
    shown = admin.get(list_path).text
    assert 'role="alert">Select at least one employee. Nothing was changed.</p>' in shown
    assert count_on_text(shown) == "Showing 1–50 of 400 employees"


def test_the_bulk_panel_shows_only_with_rows_to_select(login, many):
    admin = login("admin")
    assert 'id="bulk-form"' in admin.get("/employees").text
    empty = admin.get("/employees", params={"q": "nobody-by-this-name"}).text
    assert 'id="bulk-form"' not in empty and 'name="ids"' not in empty
    assert count_on_text(empty) == "No employees match." and "Clear filters" in empty


def test_the_kept_filters_sort_links_and_headers_follow_the_role_search_and_departments(login, many, pg):
    """The page's chrome is rendered once per list parameters and kept
    (employees/list_chrome.py): what one person saw is never what another
    role, another search or a renamed department shows."""
    admin, viewer = login("admin"), login("viewer")
    params = {"q": "smith", "sort": "hire_date"}
    for _ in range(2):  # the second round is answered from what the first kept
        as_admin = admin.get("/employees", params=params).text
        as_viewer = viewer.get("/employees", params=params).text
        assert 'id="select-all"' in as_admin and 'id="select-all"' not in as_viewer
        for page in (as_admin, as_viewer):
            assert 'value="smith"' in page  # the search box
            assert 'href="/employees?q=smith&amp;sort=hire_date&amp;dir=desc"' in page  # sorted ascending now
            assert 'aria-sort="ascending"' in page
    other = viewer.get("/employees", params={"q": "ada"}).text
    assert 'value="ada"' in other and 'href="/employees?q=ada&amp;sort=employee_id&amp;dir=asc"' in other
    # A department renamed by hand (as an import would) shows within the
    # short caches' 5 seconds, in the filter and in the bulk form's list.
    pg.execute("UPDATE departments SET name = 'Platform' WHERE id = %s", (many["engineering"],))
    deadline = time.monotonic() + 10
    while ">Platform</option>" not in (page := admin.get("/employees", params=params).text):
        assert time.monotonic() < deadline, "the renamed department never showed"
        time.sleep(0.5)
    assert '<option value="Platform">' in page


@pytest.mark.parametrize("role, says, links", [
    ("hr", "Start by adding your first employee", {"/employees/new", "/imports/new", "/imports/template.csv"}),
    ("admin", "Start by adding your first employee", {"/employees/new", "/imports/new", "/imports/template.csv", "/admin/users"}),
    ("viewer", "ask your HR team or an administrator", set()),
])
def test_an_empty_app_says_what_to_do_first(login, role, says, links):
    client = login(role)
    for path in ("/", "/employees"):  # the home page and the list say the same
        response = client.get(path)
        assert response.status_code == 200, path
        page = response.text
        section = page[page.index('<section class="empty-state"'):page.index("</section>")]
        assert "No employee records yet" in section and says in unescape(section)
        assert set(re.findall(r'href="(/[^"]*)"', section)) == links
    assert "Export CSV" not in page and 'id="q"' not in page  # nothing to search or export yet
