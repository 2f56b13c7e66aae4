"""GET /api/v1/reports/*: each report page's CSV rows as JSON, for the same
filters, from the same service functions; every role reads them; hostile
parameters are a 422 that names the parameter."""
from datetime import date

import pytest

from ..web.test_reports import add, csv_rows


@pytest.fixture
def staff(pg):
    """Hires in two years, two departments (one with a code), leavers and
    someone on leave: a row in every report."""
    this_year = date.today().year
    add(pg, "A", date(2022, 2, 1))
    add(pg, "B", date(2022, 5, 1), "Engineering", job="Analyst")
    add(pg, "C", date(2022, 5, 20), "Engineering", job="Analyst", status="on_leave")
    add(pg, "D", date(2022, 11, 3), "Engineering", job="Tester", status="terminated", terminated=date(2024, 3, 1))
    add(pg, "E", date(this_year, 1, 2), "Legal", job=None)  # no job: left out of hires by quarter
    add(pg, "F", date.today(), "Sales")
    add(pg, "G", None)
    pg.execute("UPDATE departments SET code = 'ENG' WHERE name = 'Engineering'")
    return this_year


def as_text(value) -> str:
    return "" if value is None else str(value)


# report path, filters, the JSON row's keys in the CSV's column order
REPORTS = [
    ("hires-by-quarter", "year=2022", ["department", "job", "q1", "q2", "q3", "q4"]),
    ("departments-above-mean", "year=2022", ["code", "department", "hired"]),
    ("headcount", "date=2023-06-30", ["code", "department", "active", "on_leave", "left_since", "employed"]),
    ("hires-and-leavers", "", ["month", "hires", "leavers", "net"]),
]


@pytest.mark.parametrize("role", ["viewer", "hr", "admin"])
@pytest.mark.parametrize("name, filters, keys", REPORTS)
def test_each_reports_json_rows_are_its_csvs_rows(token_for, api, login, staff, role, name, filters, keys):
    response = api(f"/reports/{name}?{filters}", token_for(role))
    assert response.status_code == 200, response.text
    body = response.json()
    downloaded = csv_rows(login("viewer").get(f"/reports/{name}.csv?{filters}"))
    assert [[as_text(row[key]) for key in keys] for row in body["rows"]] == downloaded[1:]
    assert len(body["rows"]) >= 1
    assert body["csv"].endswith(f"/reports/{name}.csv" + (f"?{filters}" if filters else ""))


def test_the_figures_around_the_rows(token_for, api, staff):
    token = token_for("viewer")
    quarters = api("/reports/hires-by-quarter?year=2022", token).json()
    assert quarters["rows"] == [
        {"department": "Engineering", "job": "Analyst", "q1": 0, "q2": 2, "q3": 0, "q4": 0},
        {"department": "Engineering", "job": "Tester", "q1": 0, "q2": 0, "q3": 0, "q4": 1},
        {"department": "Sales", "job": "Clerk", "q1": 1, "q2": 0, "q3": 0, "q4": 0}]
    assert (quarters["year"], quarters["left_out"], quarters["no_hire_date"]) == (2022, 0, 1)
    this_year = api("/reports/hires-by-quarter", token).json()  # no year: this year, as on the page
    assert this_year["year"] == staff and this_year["left_out"] == 1  # E, without a job

    above = api("/reports/departments-above-mean?year=2022", token).json()
    assert above["rows"] == [{"code": "ENG", "department": "Engineering", "hired": 3}]
    assert (above["hired"], above["departments_listed"]) == (4, 3) and above["mean"] == pytest.approx(4 / 3)

    headcount = api("/reports/headcount?date=2023-06-30", token).json()
    assert headcount["date"] == "2023-06-30" and headcount["employed"] == 4 and headcount["no_hire_date"] == 1
    assert api("/reports/headcount", token).json()["date"] == date.today().isoformat()

    months = api("/reports/hires-and-leavers", token).json()["rows"]
    assert len(months) == 24 and months[-1]["month"] == date.today().strftime("%Y-%m")


@pytest.mark.parametrize("path, parameter", [
    ("/reports/hires-by-quarter?year=abc", "year"),
    ("/reports/hires-by-quarter?year=1899", "year"),
    ("/reports/hires-by-quarter?year=2999", "year"),
    ("/reports/hires-by-quarter?year=-1", "year"),
    ("/reports/hires-by-quarter?year=2024.0", "year"),
    ("/reports/hires-by-quarter?year=2_024", "year"),
    ("/reports/hires-by-quarter?year=1e3", "year"),
    ("/reports/hires-by-quarter?year=%EF%BC%92%EF%BC%90%EF%BC%92%EF%BC%94", "year"),  # full-width 2024
    ("/reports/hires-by-quarter?year=2024%00", "year"),
    ("/reports/hires-by-quarter?year=" + "9" * 3000, "year"),
    ("/reports/hires-by-quarter?year=2024&year=2023", "year"),
    ("/reports/hires-by-quarter?year=2024&page=2", "page"),  # the JSON has every row: no pages
    ("/reports/departments-above-mean?year=%E2%80%8B2024", "year"),  # a zero-width space
    ("/reports/headcount?date=2024-02-30", "date"),
    ("/reports/headcount?date=1899-12-31", "date"),
    ("/reports/headcount?date=2024-2-3", "date"),
    ("/reports/headcount?date=%00", "date"),
    ("/reports/headcount?date=%EF%BC%92024-01-01", "date"),
    ("/reports/headcount?date=" + "2" * 3000, "date"),
    ("/reports/headcount?date=1700000000", "date"),  # a timestamp is not a date here
    ("/reports/hires-and-leavers?months=36", "months"),
])
def test_a_hostile_parameter_is_422_naming_it(token_for, api, path, parameter):
    response = api(path, token_for("viewer"))
    assert response.status_code == 422, response.text
    assert parameter in response.json()["errors"], response.json()


def test_a_report_needs_a_token(api):
    response = api("/reports/headcount")
    assert response.status_code == 401 and response.json()["status"] == 401
