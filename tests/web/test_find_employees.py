"""Finding employees: search, filters, sorting and keyset pagination over a
few thousand rows loaded with COPY."""
import random
import re
from datetime import date, timedelta
from html import unescape

import pytest

ROW_ID_RE = re.compile(r'<td><a href="/employees/([^"]+)">')
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
    assert COUNT_RE.search(response.text).group(1).strip() == f"{len(expected)} employees"
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
    assert COUNT_RE.search(page).group(1).strip() in ("About 3,000 employees", "About 2,999 employees",
                                                       "About 3,001 employees")
    assert len(ids_on(page)) == 50


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
