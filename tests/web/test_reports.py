"""The reports and the home page, over real HTTP: each figure checked
against what the test works out on its own (from the Globant challenge's
files with the csv module, or with plain SQL over employees), the summary
tables behind them kept right on every path that changes employees, and
hostile parameters answered without a 500."""
import csv
import io
import re
from collections import Counter, defaultdict
from datetime import date, timedelta
from html import unescape
from html.parser import HTMLParser

import pytest

from employee_app.services.reports import add_months

from ..globant import globant  # noqa: F401  (the fixture)
from ..helpers import csrf_token, employee
from .test_edit_delete import hidden_fields, open_edit

REPORT_PAGES = ["/reports", "/reports/hires-by-quarter", "/reports/departments-above-mean", "/reports/headcount",
                "/reports/hires-and-leavers"]
REPORT_CSVS = ["/reports/hires-by-quarter.csv", "/reports/departments-above-mean.csv", "/reports/headcount.csv",
               "/reports/hires-and-leavers.csv"]


# --- reading pages and files -----------------------------------------------------

class TableParser(HTMLParser):
    """The rows of <table id=...> as lists of cell texts; a department's
    heading row in a grouped table is ["§", name]."""

    def __init__(self, table_id: str):
        super().__init__()
        self.table_id, self.inside, self.rows, self.cell = table_id, False, [], None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "table" and attrs.get("id") == self.table_id:
            self.inside = True
        elif self.inside and tag == "tr":
            self.rows.append([])
        elif self.inside and tag in ("td", "th"):
            self.cell = "§" if attrs.get("scope") == "rowgroup" else ""
            if self.cell:
                self.rows[-1].append(self.cell)
                self.cell = ""

    def handle_endtag(self, tag):
        if tag == "table":
            self.inside = False
        elif self.inside and tag in ("td", "th") and self.cell is not None:
            self.rows[-1].append(" ".join(self.cell.split()))
            self.cell = None

    def handle_data(self, data):
        if self.cell is not None:
            self.cell += data


def table(html: str, table_id: str, *, head: bool = False) -> list[list[str]]:
    parser = TableParser(table_id)
    parser.feed(html)
    assert parser.rows, f"no table #{table_id} on the page"
    return parser.rows if head else parser.rows[1:]


def csv_rows(response) -> list[list[str]]:
    assert response.status_code == 200 and response.headers["Content-Type"].startswith("text/csv")
    text = response.content.decode("utf-8")
    assert text.startswith("\ufeff")
    return list(csv.reader(io.StringIO(text[1:])))


def number(cell: str) -> int:
    return int(cell.replace(",", "").replace("+", ""))


def quarter_rows_on_pages(client, year: int) -> list[list]:
    """Every page of the hires-by-quarter table: [department, job, Q1..Q4]."""
    rows, page = [], 1
    while True:
        html = client.get(f"/reports/hires-by-quarter?year={year}&page={page}").text
        if 'id="quarter-rows"' not in html:  # no one hired that year
            return rows
        department = None
        for cells in table(html, "quarter-rows"):
            if cells[0] == "§":
                department = cells[1]
            else:
                assert number(cells[5]) == sum(map(number, cells[1:5]))
                rows.append([department, unescape(cells[0]), *map(number, cells[1:5])])
        if 'rel="next"' not in html:
            return rows
        page += 1


# --- the Globant challenge's files ------------------------------------------------------

def globant_expected(globant, year: int) -> tuple[list[list], list[list], float]:
    """Worked out from the three files alone, as the csv module reads them
    (tests/globant.py): (hires by quarter rows, departments above the mean
    rows, the mean). An employee needs a name: the import refuses the rows
    without one, so they hire no one here either."""
    quarters: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    per_department: Counter = Counter()
    for _, name, hired, department, job in globant.hires:
        if not name.strip() or not hired.startswith(f"{year}-"):
            continue
        if department:
            per_department[department] += 1
        if department and job:
            quarters[globant.departments[department], globant.jobs[job]][(int(hired[5:7]) - 1) // 3] += 1
    by_quarter = sorted(([d, j, *counts] for (d, j), counts in quarters.items()),
                        key=lambda row: (row[0].lower(), row[1].lower()))
    mean = sum(per_department.values()) / len(globant.departments)
    above = sorted(([code, globant.departments[code], hired] for code, hired in per_department.items()
                    if hired > mean), key=lambda row: (-row[2], int(row[0])))
    return by_quarter, above, mean


def test_the_globant_2021_reports_match_the_files(globant, login):
    """The lists uploaded and the hires imported through the mapping page
    (the fixture), then both 2021 reports, page and CSV, against the files."""
    by_quarter, above, mean = globant_expected(globant, 2021)
    assert len(by_quarter) > 100 and 1 < len(above) < 12  # the files say so: a real test of both
    viewer = login("viewer")

    assert quarter_rows_on_pages(viewer, 2021) == by_quarter
    downloaded = csv_rows(viewer.get("/reports/hires-by-quarter.csv?year=2021"))
    assert downloaded[0] == ["department", "job", "Q1", "Q2", "Q3", "Q4"]
    assert [[d, j, *map(int, counts)] for d, j, *counts in downloaded[1:]] == by_quarter

    page = viewer.get("/reports/departments-above-mean?year=2021").text
    assert [[code, unescape(name), number(hired)] for code, name, hired in table(page, "above-mean")] == above
    assert f"<strong>{mean:,.1f}</strong> hires per department" in page
    downloaded = csv_rows(viewer.get("/reports/departments-above-mean.csv?year=2021"))
    assert downloaded[0] == ["code", "department", "hired"]
    assert [[code, name, int(hired)] for code, name, hired in downloaded[1:]] == above

    # What the hires-by-quarter page leaves out, counted from the file.
    named = [row for row in globant.hires if row[1].strip()]
    without_department_or_job = sum(1 for row in named if row[2].startswith("2021-") and not (row[3] and row[4]))
    without_date = sum(1 for row in named if not row[2])
    note = unescape(viewer.get("/reports/hires-by-quarter?year=2021").text)
    assert f"Left out: {without_department_or_job} hired in 2021 without a department or a job." in note
    assert f"{without_date} employees have no hire date" in note
    years = re.findall(r'<option value="(\d+)"', viewer.get("/reports/hires-by-quarter").text)
    assert set(years) >= {"2021", "2022"}  # the years with hires, and this one


# --- small data sets built here ----------------------------------------------------------

def add(pg, employee_id: str, hired: date | None, department: str | None = "Sales", *, status: str = "active",
        terminated: date | None = None, job: str | None = "Clerk") -> None:
    """An employee straight into PostgreSQL (the triggers keep the summaries)."""
    ids = []
    for table_name, name in (("departments", department), ("jobs", job)):
        if name:
            pg.execute(f"INSERT INTO {table_name} (name) VALUES (%s) ON CONFLICT DO NOTHING", (name,))
        ids.append(pg.execute(f"SELECT id FROM {table_name} WHERE name = %s", (name,)).fetchone()[0] if name else None)
    pg.execute("INSERT INTO employees (employee_id, first_name, last_name, hire_date, status, termination_date,"
               " department_id, job_id) VALUES (%s, 'Ada', 'Lovelace', %s, %s, %s, %s, %s)",
               (employee_id, hired, status, terminated, *ids))


def headcount_table(client, day: date | None = None) -> dict[str, list[int]]:
    """department -> [active, on leave, left since, employed] (the page shows
    "Left since" only when anyone has)."""
    html = client.get("/reports/headcount" + (f"?date={day}" if day else "")).text
    header, *rows = table(html, "headcount", head=True)
    columns = ["Active", "On leave", "Left since", "Employed"]
    return {unescape(cells[0]): [number(dict(zip(header, cells)).get(name, "0")) for name in columns]
            for cells in rows}


def test_the_headcount_counts_who_was_employed_on_the_date(login, pg):
    day = date(2024, 6, 15)
    add(pg, "A", date(2020, 1, 1))  # long before
    add(pg, "B", day)  # hired that day: counts
    add(pg, "C", date(2024, 6, 16))  # hired the day after: not yet
    add(pg, "D", date(2019, 3, 1), status="terminated", terminated=date(2024, 6, 14))  # left the day before
    add(pg, "E", date(2019, 3, 1), status="terminated", terminated=day)  # the date is their last day: counts
    add(pg, "F", date(2019, 3, 1), "Engineering", status="terminated", terminated=date(2025, 1, 31))
    add(pg, "G", date(2018, 5, 1), "Engineering", status="on_leave")
    add(pg, "H", None)  # no hire date: left out
    add(pg, "I", date(2018, 5, 1), status="terminated")  # terminated, no date: left out
    add(pg, "J", date(2021, 7, 1), None)  # no department: counted as such
    add(pg, "K", date(2020, 2, 1), status="active", terminated=date(2030, 1, 31))  # leaving later
    add(pg, "L", date(2010, 1, 1), status="terminated", terminated=date(2012, 12, 31))  # long gone
    viewer = login("viewer")

    #                        active, on leave, left since, employed
    assert headcount_table(viewer, day) == {
        "Engineering": [0, 1, 1, 2],
        "Sales": [3, 0, 1, 4],  # A, B, K; E
        "No department": [1, 0, 0, 1],  # J
        "All departments": [4, 1, 2, 7],
    }
    page = unescape(viewer.get(f"/reports/headcount?date={day}").text)
    assert "Not counted: 1 terminated without a termination date (nothing says when they left); " \
           "1 without a hire date." in page
    assert csv_rows(viewer.get(f"/reports/headcount.csv?date={day}")) == [
        ["code", "department", "active", "on_leave", "left_since", "employed"],
        ["", "Engineering", "0", "1", "1", "2"], ["", "Sales", "3", "0", "1", "4"],
        ["", "No department", "1", "0", "0", "1"]]
    # The day before B, after D's last day; and long before anyone.
    assert headcount_table(viewer, date(2024, 6, 14))["All departments"] == [3, 1, 3, 7]  # D counts, B not yet
    assert "No one was employed on 1999-01-01." in viewer.get("/reports/headcount?date=1999-01-01").text
    # Today (the default): F has left, C has started.
    assert headcount_table(viewer)["All departments"] == [5, 1, 0, 6]  # A, B, C, J, K; G


def test_hires_and_leavers_by_month_cover_the_last_24_months_with_zeros(login, pg):
    this_month = date.today().replace(day=1)
    month = lambda back, day=10: add_months(this_month, -back).replace(day=day)  # noqa: E731
    add(pg, "A", month(0, 1))
    add(pg, "B", month(0, 2), "Engineering", status="terminated", terminated=month(0, 3))
    add(pg, "C", month(5))
    add(pg, "D", month(5, 28))
    add(pg, "E", month(40), status="terminated", terminated=month(23))  # hired before the window
    add(pg, "F", month(24))  # one month too early
    add(pg, "G", month(30), status="on_leave", terminated=month(12))
    viewer = login("viewer")

    expected = {month(back, 1).strftime("%Y-%m"): [0, 0] for back in range(23, -1, -1)}
    expected[month(0).strftime("%Y-%m")] = [2, 1]
    expected[month(5).strftime("%Y-%m")] = [2, 0]
    expected[month(23).strftime("%Y-%m")] = [0, 1]
    expected[month(12).strftime("%Y-%m")] = [0, 1]
    downloaded = csv_rows(viewer.get("/reports/hires-and-leavers.csv"))
    assert downloaded[0] == ["month", "hires", "leavers", "net"]
    assert [row[0] for row in downloaded[1:]] == list(expected)  # 24 months, oldest first
    assert {m: [int(h), int(left)] for m, h, left, _ in downloaded[1:]} == expected
    assert all(int(net) == int(h) - int(left) for _, h, left, net in downloaded[1:])

    page = viewer.get("/reports/hires-and-leavers").text
    rows = [[number(c) for c in cells[1:3]] for cells in table(page, "months")]
    assert rows == list(reversed(list(expected.values())))  # the table: newest first
    assert page.count('class="series-hires"') == 24 and page.count('class="series-leavers"') == 24
    # A bar's height means something only with its scale, said under the chart.
    assert "Scale: the tallest bar up is 2 hires in a month, the longest down 1 leaver." in page


def test_hires_and_leavers_name_this_months_planned_ones(login, pg):
    """This month's row counts by the dates, so also a hire starting later
    this month and a last day today or later; the overview says those apart
    ("+1 starting later"), so the report names them too, and the two agree."""
    today = date.today()
    add(pg, "A", today.replace(day=1))  # hired: the 1st is today at the latest
    viewer = login("viewer")
    page = viewer.get("/reports/hires-and-leavers").text
    assert 'id="still-to-come"' not in page  # nothing planned: nothing said

    add(pg, "B", date(2020, 1, 1), terminated=today)  # still employed today: leaving later
    tomorrow = today + timedelta(days=1)
    starting_later = tomorrow.month == today.month  # none on a month's last day
    if starting_later:
        add(pg, "C", tomorrow)
    page = viewer.get("/reports/hires-and-leavers").text
    assert table(page, "months")[0][1:3] == [str(1 + starting_later), "1"]  # the dates' month
    said = " ".join(unescape(re.search(r'<span id="still-to-come">(.*?)</span>', page, re.S).group(1)).split())
    assert said == (f"{today:%B %Y} includes " + (f"1 hire starting after today ({today}) and " if starting_later
                                                   else "") + "1 leaver whose last day is today or later: "
                    "planned, not done yet (the overview counts them apart).")
    home = viewer.get("/").text
    assert ('+1 starting later' in home) == starting_later and '+1 leaving later' in home


def test_the_year_picker_always_offers_this_year(login, pg):
    """Opened on an old year, with no hire this year, the picker still has
    this year (the default) to go back to. This year is read before and
    after the pages are asked: a run may cross midnight on 31 December."""
    add(pg, "A", date(2019, 3, 1))
    add(pg, "B", date(2021, 5, 1))
    viewer = login("viewer")
    for path in ("/reports/hires-by-quarter", "/reports/departments-above-mean"):
        before = date.today().year
        html = viewer.get(f"{path}?year=2019").text
        this_year = {before, date.today().year}
        years = [int(year) for year in re.findall(r'<option value="(\d+)"', html)]
        assert set(years) - this_year == {2019, 2021} and this_year & set(years), (path, years)
        assert years == sorted(years, reverse=True) and '<option value="2019" selected>' in html, path


# --- the summaries stay right on every path ------------------------------------------------

def direct_figures(pg, day: date, year: int) -> dict:
    """The reports' figures with plain SQL over employees, the rules in
    words: employed on `day` = hired by then, not terminated before, not
    terminated without a date."""
    headcount = pg.execute("""
        SELECT coalesce(d.name, 'No department'), count(*) FILTER (WHERE e.status = 'active'),
               count(*) FILTER (WHERE e.status = 'on_leave'), count(*) FILTER (WHERE e.status = 'terminated')
        FROM employees e LEFT JOIN departments d ON d.id = e.department_id
        WHERE e.hire_date <= %(day)s AND (e.termination_date IS NULL OR e.termination_date >= %(day)s)
          AND NOT (e.status = 'terminated' AND e.termination_date IS NULL)
        GROUP BY 1 ORDER BY 1""", {"day": day}).fetchall()
    quarters = pg.execute("""
        SELECT d.name, j.name, count(*) FILTER (WHERE extract(quarter FROM e.hire_date) = 1),
               count(*) FILTER (WHERE extract(quarter FROM e.hire_date) = 2),
               count(*) FILTER (WHERE extract(quarter FROM e.hire_date) = 3),
               count(*) FILTER (WHERE extract(quarter FROM e.hire_date) = 4)
        FROM employees e JOIN departments d ON d.id = e.department_id JOIN jobs j ON j.id = e.job_id
        WHERE extract(year FROM e.hire_date) = %s GROUP BY 1, 2 ORDER BY lower(d.name), lower(j.name)""",
                          (year,)).fetchall()
    months = pg.execute("""
        SELECT to_char(m, 'YYYY-MM'),
               (SELECT count(*) FROM employees WHERE date_trunc('month', hire_date) = m),
               (SELECT count(*) FROM employees WHERE date_trunc('month', termination_date) = m)
        FROM generate_series(date_trunc('month', %s::date) - interval '23 months', date_trunc('month', %s::date),
                             interval '1 month') AS m ORDER BY 1""", (date.today(), date.today())).fetchall()
    return {"headcount": {name: [a, leave, left, a + leave + left] for name, a, leave, left in headcount},
            "quarters": [list(row) for row in quarters],
            "months": [list(row) for row in months]}


def shown_figures(client, day: date, year: int) -> dict:
    headcount = headcount_table(client, day)
    headcount.pop("All departments", None)
    months = csv_rows(client.get("/reports/hires-and-leavers.csv"))[1:]
    return {"headcount": dict(sorted(headcount.items())),
            "quarters": quarter_rows_on_pages(client, year),
            "months": [[m, int(h), int(left)] for m, h, left, _ in months]}


def assert_reports_right(client, pg) -> None:
    for day, year in ((date.today(), date.today().year), (date(2023, 6, 30), 2023)):
        assert shown_figures(client, day, year) == direct_figures(pg, day, year), (day, year)
    unmerged = pg.execute("SELECT (SELECT count(*) FROM headcount_changes WHERE NOT merged)"
                          " + (SELECT count(*) FROM hires_by_quarter WHERE NOT merged)").fetchone()[0]
    assert unmerged == 0  # a report page merges what waits first


def test_the_summaries_stay_right_on_every_path_that_changes_employees(app, login, pg):
    admin = login("admin")
    this_year = date.today().year
    for employee_id, fields in (
            ("E1", dict(hire_date="2023-02-10", department="Sales", job_title="Clerk")),
            ("E2", dict(hire_date="2023-05-20", department="Sales", job_title="Buyer", status="on_leave")),
            ("E3", dict(hire_date=f"{this_year}-01-15", department="Engineering", job_title="Clerk")),
            ("E4", dict(hire_date="2020-11-30", department="Engineering", job_title="Buyer", status="terminated",
                        termination_date="2023-06-30")),
            ("E5", dict(hire_date="", department="Legal"))):
        assert admin.submit("/employees/new", employee(employee_id, email=f"{employee_id}@example.com",
                                                       **fields)).status_code == 303
    assert_reports_right(admin, pg)

    # Edits: another department, hire date and job; a termination with its date.
    form = open_edit(admin, "E1")
    assert admin.post("/employees/E1/edit", dict(form, department="Engineering", hire_date="2023-08-01",
                                                 job_title="Buyer")).status_code == 303
    form = open_edit(admin, "E3")
    assert admin.post("/employees/E3/edit", dict(form, status="terminated",
                                                 termination_date=date.today().isoformat())).status_code == 303
    assert_reports_right(admin, pg)

    # Bulk: a status, then a department, for several at once.
    page = admin.get("/employees").text
    for action, value in (("status", "on_leave"), ("department", "Research")):
        response = admin.post("/employees", {"csrf_token": csrf_token(page), "action": action, action: value,
                                             "ids": ["E1", "E2", "E5"], "next": "/employees"})
        assert response.status_code == 303
    assert_reports_right(admin, pg)

    # Delete.
    delete_form = hidden_fields(admin.get("/employees/E2/delete").text)
    assert admin.post("/employees/E2/delete", delete_form).status_code == 303
    assert_reports_right(admin, pg)

    # An import (new rows, and an update of an existing one), run as the worker runs it.
    with app.app_context():
        from employee_app.services.importer import jobs

        content = ("employee_id,first_name,last_name,department,job_title,hire_date,status,termination_date\n"
                   "E6,Grace,Hopper,Sales,Clerk,2023-03-01,active,\n"
                   "E7,Alan,Turing,Research,Buyer,2023-11-11,terminated,2023-12-31\n"
                   "E1,Ada,Lovelace,Legal,Clerk,2022-12-31,active,\n").encode()
        job = jobs.create_import(io.BytesIO(content), "staff.csv", mode="valid_rows", on_existing="update",
                                 user=None, queue=False)
        counts = jobs.run_import(job.id)
        assert (counts.inserted, counts.updated) == (2, 1)
        # The import merged its rows at its end.
        assert pg.execute("SELECT count(*) FROM headcount_changes WHERE NOT merged").fetchone()[0] == 0
    assert_reports_right(admin, pg)


def test_a_merge_keeps_every_sum(app, pg):
    """Rows appended by many statements, merged: the same sums, one row per key."""
    for number in range(30):
        add(pg, f"M{number}", date(2022, 1 + number % 12, 1 + number % 27), ("Sales", "Legal")[number % 2],
            status=("active", "on_leave", "terminated")[number % 3],
            terminated=date(2023, 3, 1) if number % 3 == 2 else None)
    pg.execute("UPDATE employees SET department_id = (SELECT id FROM departments WHERE name = 'Legal')"
               " WHERE employee_id IN ('M0', 'M2')")
    pg.execute("DELETE FROM employees WHERE employee_id = 'M4'")
    sums = "SELECT grain, period, department_id, status, sum(hires), sum(leavers), sum(undated_leavers)" \
           " FROM headcount_changes GROUP BY 1, 2, 3, 4 HAVING (sum(hires), sum(leavers), sum(undated_leavers))" \
           " <> (0, 0, 0) ORDER BY 1, 2, 3, 4"
    before = pg.execute(sums).fetchall()
    with app.app_context():
        from employee_app.services import reports

        assert reports.compact_summaries()
    assert pg.execute(sums).fetchall() == before
    assert pg.execute("SELECT count(*) = count(DISTINCT (grain, period, department_id, status)) AND bool_and(merged)"
                      " FROM headcount_changes").fetchone()[0]
    pg.execute("TRUNCATE employees CASCADE")
    assert pg.execute("SELECT count(*) FROM headcount_changes").fetchone()[0] == 0


# --- hostile parameters, roles, the home page -----------------------------------------------

@pytest.mark.parametrize("path, status, says", [
    ("/reports/hires-by-quarter?year=%00", 400, "year must be a year from 1900 to"),
    ("/reports/hires-by-quarter?year=99999", 400, "year must be a year from 1900 to"),
    ("/reports/hires-by-quarter?year=-1", 400, "year must be a year from 1900 to"),
    ("/reports/hires-by-quarter?year=1e3", 400, "year must be a year from 1900 to"),
    ("/reports/hires-by-quarter?year=" + "9" * 1000, 400, "year must be"),
    ("/reports/hires-by-quarter?year=2021&page=0", 400, "page must be a page number."),
    ("/reports/hires-by-quarter?year=2021&page=99999999999999999999", 400, "page must be a page number."),
    ("/reports/hires-by-quarter?year=2021&page=7", 404, "There is nothing at this address."),
    ("/reports/hires-by-quarter.csv?year=1899", 400, "year must be a year from 1900 to"),
    ("/reports/departments-above-mean?year=%E2%80%8B", 400, "year must be a year from 1900 to"),
    ("/reports/departments-above-mean?year=%20", 200, "Departments above the mean, {today.year}"),
    ("/reports/departments-above-mean.csv?year=abc", 400, "year must be"),
    ("/reports/headcount?date=2024-02-30", 400, "2024-02-30 is not a date: February 2024 has 29 days."),
    ("/reports/headcount?date=%00", 200, "Headcount on {today}"),
    ("/reports/headcount?date=1899-12-31", 400, "is out of range: from 1900-01-01 to"),
    ("/reports/headcount?date=99999-01-01", 400, "99999-01-01 is not a date: use YYYY-MM-DD, e.g. 2024-02-29."),
    ("/reports/headcount.csv?date=" + "2" * 1000, 400, "date must be a date as YYYY-MM-DD"),
    ("/reports/headcount?date=2024-02-29", 200, "Headcount on 2024-02-29"),
    # The headcount's date, as a date picker never sends it but a typed or
    # tampered link does: far future and past, garbage, NUL, full-width, huge.
    ("/reports/headcount?date=9999-12-31", 400, "9999-12-31 is out of range: from 1900-01-01 to"),
    ("/reports/headcount.csv?date=9999-12-31", 400, "9999-12-31 is out of range: from 1900-01-01 to"),
    ("/reports/headcount?date=0001-01-01", 400, "0001-01-01 is out of range: from 1900-01-01 to"),
    ("/reports/headcount?date=0000-01-01", 400, "0000-01-01 is out of range: from 1900-01-01 to"),
    ("/reports/headcount?date=yesterday", 400, "yesterday is not a date: use YYYY-MM-DD"),
    ("/reports/headcount?date=2024-13-01", 400, "2024-13-01 is not a date: there is no month 13."),
    ("/reports/headcount?date=2024-06-15%00%00", 200, "Headcount on 2024-06-15"),  # NUL: dropped, as typed
    ("/reports/headcount?date=2024-%0006-15", 200, "Headcount on 2024-06-15"),
    ("/reports/headcount?date=%00x", 400, "x is not a date: use YYYY-MM-DD"),
    ("/reports/headcount?date=%EF%BC%92%EF%BC%90%EF%BC%92%EF%BC%94-06-15", 400,  # full-width 2024
     "type it with the digits 0 to 9 as YYYY-MM-DD"),
    ("/reports/headcount.csv?date=%D9%A2%D9%A0%D9%A2%D9%A4-06-15", 400,  # Arabic-Indic 2024
     "type it with the digits 0 to 9 as YYYY-MM-DD"),
    ("/reports/headcount?date=2024-06-15T00:00", 400, "2024-06-15T00:00 is not a date: use YYYY-MM-DD"),
    ("/reports/headcount?date=%2B2024-06-15", 400, "+2024-06-15 is not a date: use YYYY-MM-DD"),
    ("/reports/headcount.csv?date=%2B2024-06-15", 400, "date must be a date as YYYY-MM-DD"),  # plain text: names it
    ("/reports/headcount?date=" + "2024-06-15" * 300, 400, "2024-06-152024"),
    # 10 KB: longer than a request line gunicorn reads (4 KB), refused before the app.
    ("/reports/headcount?date=" + "2024-06-15" * 1000, 414, "Request Line is too large"),
])
def test_a_hostile_parameter_is_a_clear_answer(login, path, status, says):
    """{today}: the day the page is asked on (read before and after it: a
    run may cross midnight, as CI's once did between collection and here)."""
    before = date.today()
    response = login("viewer").get(path)
    expected = {says.format(today=day) for day in (before, date.today())}
    assert (response.status_code, any(text in unescape(response.text) for text in expected)) == (status, True), \
        response.text[-1500:]


def test_a_headcount_date_it_cannot_take_shows_the_form_with_the_reason(login):
    """A typed link's date out of range (or not a date): 400 with the form
    again, the reason at its field, and no figures nor CSV link for it."""
    viewer = login("viewer")
    response = viewer.get("/reports/headcount", params={"date": "9999-12-31"})
    page = unescape(response.text)
    assert response.status_code == 400
    assert re.search(r'<input type="date" id="date" name="date" value="" min="1900-01-01" max="[0-9-]{10}"'
                     r' aria-invalid="true" aria-describedby="date-error" autofocus>', page), page
    assert '<small id="date-error" class="field-error">9999-12-31 is out of range: from 1900-01-01 to' in page
    assert "<h1>Headcount</h1>" in page and "Download CSV" not in page and 'id="headcount"' not in page
    assert viewer.get("/reports/headcount.csv", params={"date": "9999-12-31"}).status_code == 400
    fine = viewer.get("/reports/headcount", params={"date": "2024-06-15"}).text
    assert 'aria-invalid' not in fine and 'value="2024-06-15"' in fine and "Download CSV" in fine


@pytest.mark.parametrize("role", ["viewer", "hr", "admin"])
def test_every_role_sees_every_report_and_its_csv(login, pg, role):
    add(pg, "A", date.today())  # this year (the default one) has a row in every report
    add(pg, "B", date(2020, 4, 1), "Legal")
    client = login(role)
    for path in REPORT_PAGES:
        response = client.get(path)
        assert response.status_code == 200 and 'aria-current="page">Reports</a>' in response.text, path
        assert "style=" not in response.text and "<script>" not in response.text
    for path in REPORT_CSVS:
        assert len(csv_rows(client.get(path))) >= 2, path


@pytest.mark.parametrize("role, sees", [
    ("viewer", set()),
    ("hr", {"recent-imports"}),
    ("admin", {"recent-imports", "recent-changes"}),
])
def test_the_home_page_shows_the_figures_and_what_each_role_may_open(app, login, pg, role, sees):
    admin = login("admin")
    this_quarter = date.today().replace(month=(date.today().month - 1) // 3 * 3 + 1, day=1)
    assert admin.submit("/employees/new", employee("E1", hire_date=this_quarter.isoformat())).status_code == 303
    add(pg, "E2", date(2020, 1, 1), "Legal", status="terminated", terminated=this_quarter)
    add(pg, "E3", date(2020, 1, 1), "Legal")
    with app.app_context():
        from employee_app.services.importer import jobs

        jobs.create_import(io.BytesIO(b"employee_id,first_name,last_name\nE9,Ada,Byron\n"), "staff.csv",
                           mode="valid_rows", on_existing="skip", user=None, queue=False)
    page = login(role).get("/")
    assert page.status_code == 200
    html = page.text
    figures = {name: number(re.search(rf'id="{name}">([^<]+)<', html).group(1))
               for name in ("headcount-total", "hires-quarter", "leavers-quarter")}
    past_first_day = this_quarter < date.today()  # E2's last day is the quarter's first: left once it has passed
    assert figures == {"headcount-total": 2 if past_first_day else 3, "hires-quarter": 1,
                       "leavers-quarter": 1 if past_first_day else 0}
    assert {cells[0] for cells in table(html, "headcount")} == {"Engineering", "Legal", "All departments"}
    assert '<svg class="bar-chart"' in html
    shown = {section for section in ("recent-imports", "recent-changes") if f'id="{section}"' in html}
    assert shown == sees
    assert 'href="/reports/hires-by-quarter"' in html and "No employee records yet" not in html


def test_the_home_page_tells_done_from_planned_and_says_who_it_leaves_out(login, pg):
    """The quarter's figures count hires up to today and leavers whose last
    day has passed; the rest of the quarter's are said apart as planned. The
    people no figure counts (no hire date, terminated without a date) are
    said, with a link to those without a hire date."""
    today = date.today()
    tomorrow = today + timedelta(days=1)
    later_this_quarter = (tomorrow.month - 1) // 3 == (today.month - 1) // 3 and tomorrow.year == today.year
    add(pg, "H1", today)  # hired today: a hire done
    add(pg, "H2", tomorrow)  # starts tomorrow: planned (or next quarter's)
    add(pg, "L1", date(2020, 1, 1), terminated=today)  # their last day is today: still employed, leaving
    add(pg, "N1", None)
    add(pg, "N2", None, status="on_leave")
    add(pg, "U1", date(2020, 1, 1), status="terminated")  # no termination date: nothing says when they left
    html = login("viewer").get("/").text
    figures = {name: number(found.group(1)) if (found := re.search(rf'id="{name}">([^<]+?)(?: [a-z]|<)', html))
               else None for name in ("hires-quarter", "hires-later", "leavers-quarter", "leavers-later")}
    assert figures == {"hires-quarter": 1, "hires-later": 1 if later_this_quarter else None,
                       "leavers-quarter": 0, "leavers-later": 1}
    note = " ".join(re.sub(r"<[^>]+>", "", re.search(r'id="not-counted">(.*?)</p>', html, re.S).group(1)).split())
    assert note.startswith("Not counted in these figures: 2 employees without a hire date")
    assert "1 terminated without a termination date." in note
    link = re.search(r'<a href="([^"]+)">2 employees without a hire date</a>', html).group(1)
    listed = login("hr").get(unescape(link)).text
    assert sorted(re.findall(r'<td><a href="/employees/(\w+)[?"]', listed)) == ["N1", "N2"]
    assert "Only employees without a hire date." in listed and "add the hire date" in listed


def test_the_home_page_reads_a_handful_of_queries(app, login, pg):
    """One request, few statements, whatever the number of employees."""
    from sqlalchemy import event

    from employee_app.extensions import db

    add(pg, "A", date(2023, 4, 1))
    client = app.test_client()
    login("admin")  # creates the account
    page = client.get("/login").text
    client.post("/login", data={"csrf_token": csrf_token(page), "username": "admin-user",
                                "password": "correct horse battery staple"})
    assert client.get("/").status_code == 200  # merges the rows add() appended
    statements = []
    with app.app_context():
        engine = db.engine
    listener = lambda *args: statements.append(args[2])  # noqa: E731
    event.listen(engine, "before_cursor_execute", listener)
    try:
        assert client.get("/").status_code == 200
    finally:
        event.remove(engine, "before_cursor_execute", listener)
    report_statements = [s for s in statements if "user_sessions" not in s and "FROM users" not in s]
    assert len(report_statements) <= 6, report_statements


@pytest.mark.parametrize("role, says", [
    ("hr", "Start by adding your first employee"),
    ("viewer", "ask your HR team or an administrator"),
])
def test_an_empty_app_home_page_says_what_to_do_first(login, role, says):
    page = login(role).get("/")
    assert page.status_code == 200
    section = page.text[page.text.index('<section class="empty-state"'):page.text.index("</section>")]
    assert "No employee records yet" in section and says in unescape(section)
    assert 'id="figures"' not in page.text


def test_figures_kept_in_memory_follow_every_change_at_once(login, pg):
    """The web processes keep report figures per generation: the next
    request after a change, on either gunicorn process, shows it."""
    add(pg, "A", date(2022, 2, 1))
    pg.execute("INSERT INTO departments (name) VALUES ('Legal')")  # no hires: the mean is 0.5
    viewer = login("viewer")
    report = "/reports/departments-above-mean.csv?year=2022"
    for _ in range(4):  # both processes now hold the figures
        assert csv_rows(viewer.get(report))[1:] == [["", "Sales", "1"]]

    pg.execute("UPDATE departments SET name = 'Sales and Marketing', code = 'S1' WHERE name = 'Sales'")
    for _ in range(4):
        assert csv_rows(viewer.get(report))[1:] == [["S1", "Sales and Marketing", "1"]]
    add(pg, "B", date(2022, 5, 1), "Legal")  # the mean is 1.5
    add(pg, "C", date(2022, 6, 1), "Legal")
    for _ in range(4):
        assert csv_rows(viewer.get(report))[1:] == [["", "Legal", "2"]]
        assert headcount_table(viewer, date(2022, 12, 31))["All departments"] == [3, 0, 0, 3]
    pg.execute("INSERT INTO departments (name) VALUES ('Finance'), ('Support')")  # the mean falls to 0.75
    for _ in range(4):
        assert csv_rows(viewer.get(report))[1:] == [["", "Legal", "2"], ["S1", "Sales and Marketing", "1"]]
    pg.execute("TRUNCATE employees CASCADE")
    for _ in range(4):
        assert csv_rows(viewer.get(report))[1:] == []


def test_an_employee_without_a_hire_date_is_in_no_figure(login, pg):
    """A termination date without a hire date (the forms allow it) neither
    hires nor takes anyone away: the headcount stays right."""
    add(pg, "A", date(2020, 1, 1))
    add(pg, "X", None, status="terminated", terminated=date(2021, 3, 1))
    viewer = login("viewer")
    assert headcount_table(viewer, date(2022, 1, 1))["All departments"] == [1, 0, 0, 1]
    page = unescape(viewer.get("/reports/headcount?date=2022-01-01").text)
    assert "1 without a hire date" in page
