"""The real staff lists in ../shared/data import with the counts their
contents call for (worked out here from the files themselves)."""
import csv
import os
import re
from pathlib import Path

import pytest

from .conftest import import_id_of, upload, wait_for_import
from ..helpers import csrf_token

# ../shared/data next to the project (or SHARED_DATA_DIR): public files we do not copy in.
DATA = Path(os.environ.get("SHARED_DATA_DIR") or Path(__file__).resolve().parents[3] / "shared" / "data")
SELECT_RE = re.compile(r'<select id="column-(\d+)" name="column-\d+"[^>]*>(.*?)</select>', re.S)
SELECTED_RE = re.compile(r'<option value="([^"]+)" selected>')
HEADER_SWITCH_RE = re.compile(r'<input type="checkbox" id="has_header"[^>]*>')

pytestmark = pytest.mark.skipif(not DATA.is_dir(), reason=f"the shared data sets are not at {DATA}")


def suggested_mapping(page: str) -> dict[int, str]:
    return {int(i): SELECTED_RE.search(options).group(1) for i, options in SELECT_RE.findall(page)}


def confirm(client, import_id: int, mapping: dict[int, str], has_header: bool):
    page = client.get(f"/imports/{import_id}/mapping")
    data = {"csrf_token": csrf_token(page.text), **{f"column-{i}": t for i, t in mapping.items()}}
    if has_header:
        data["has_header"] = "y"
    return client.post(f"/imports/{import_id}/mapping", data=data)


def test_mfg_staff_list_maps_its_own_headers_and_imports_every_row(login, pg, worker):
    path = DATA / "mfg-employees-absenteeism" / "MFGEmployees-absenteeism.csv"
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    hr = login("hr")
    import_id = import_id_of(upload(hr, path.read_bytes(), path.name))
    page = hr.get(f"/imports/{import_id}/mapping")
    assert page.status_code == 200 and "Nothing has been written yet" in page.text
    mapping = suggested_mapping(page.text)
    header = list(rows[0].keys())
    suggested = {header[i]: target for i, target in mapping.items() if target != "ignore"}
    assert suggested == {"EmployeeNumber": "employee_id", "Surname": "last_name", "GivenName": "first_name",
                         "City": "location", "JobTitle": "job_title", "DepartmentName": "department"}
    assert confirm(hr, import_id, mapping, has_header=True).status_code == 303
    result = wait_for_import(pg, import_id)
    assert (result["rows_read"], result["inserted"], result["duplicates"], result["invalid"]) == \
        (len(rows), len(rows), 0, 0) == (8336, 8336, 0, 0)
    quoted = next(r for r in rows if "," in r["JobTitle"])
    stored = pg.execute("SELECT (SELECT name FROM jobs WHERE jobs.id = job_id), last_name FROM employees WHERE employee_id = %s",
                        (quoted["EmployeeNumber"],)).fetchone()
    assert stored == (quoted["JobTitle"], quoted["Surname"])
    assert pg.execute("SELECT count(*) FROM employees WHERE last_name LIKE 'O''%%'").fetchone()[0] == \
        sum(1 for r in rows if r["Surname"].startswith("O'"))

    # The same headers again: the confirmed mapping is remembered, no questions asked.
    again = upload(hr, path.read_bytes(), "again.csv")
    second = wait_for_import(pg, import_id_of(again))
    assert "/mapping" not in again.headers["Location"]
    assert (second["inserted"], second["duplicates"]) == (0, 8336)
    assert "All 8,336 rows already exist" in hr.get(again.headers["Location"]).text


def _globant_expected() -> tuple[int, int]:
    """(valid, invalid): a hire needs an ID and a name of a first and a last part."""
    with open(DATA / "globant-challenge-csv" / "hired_employees.csv", newline="") as f:
        rows = list(csv.reader(f))
    invalid = sum(1 for r in rows if len(r[1].split()) < 2)
    return len(rows) - invalid, invalid


@pytest.mark.parametrize("folder, filename", [("globant-challenge-csv", "hired_employees.csv"),
                                              ("globant-challenge-xlsx", "hired_employees.xlsx")])
def test_globant_hires_without_a_header_are_mapped_by_their_values(login, pg, worker, folder, filename):
    path = DATA / folder / filename
    hr = login("hr")
    import_id = import_id_of(upload(hr, path.read_bytes(), filename))
    page = hr.get(f"/imports/{import_id}/mapping").text
    mapping = suggested_mapping(page)
    assert mapping == {0: "employee_id", 1: "full_name", 2: "hire_date", 3: "ignore", 4: "ignore"}
    assert " checked" not in HEADER_SWITCH_RE.search(page).group(0)  # no header row found
    assert confirm(hr, import_id, mapping, has_header=False).status_code == 303
    result = wait_for_import(pg, import_id)
    valid, invalid = _globant_expected()
    assert (result["rows_read"], result["inserted"], result["duplicates"], result["invalid"]) == \
        (1999, valid, 0, invalid)
    # IDs as written ("1", not Excel's 1.0); the date from "2021-11-07T02:48:42Z".
    assert pg.execute("SELECT first_name, last_name, hire_date::text FROM employees WHERE employee_id = '1'"
                      ).fetchone() == ("Harold", "Vogt", "2021-11-07")


def test_files_that_cannot_be_employee_lists_are_refused_at_the_mapping(login, pg, worker):
    hr = login("hr")
    ibm = DATA / "ibm-hr-attrition" / "EmployeeAttritionAllData.csv"
    import_id = import_id_of(upload(hr, ibm.read_bytes(), ibm.name))
    response = confirm(hr, import_id, suggested_mapping(hr.get(f"/imports/{import_id}/mapping").text), True)
    assert response.status_code == 400 and "First name and Last name" in response.text

    baltimore = DATA / "baltimore-city-employee-salaries" / "Baltimore_City_Employee_Salaries_FY2014.csv"
    import_id = import_id_of(upload(hr, baltimore.read_bytes(), baltimore.name))
    mapping = suggested_mapping(hr.get(f"/imports/{import_id}/mapping").text)
    assert mapping[1] == "full_name_last_first"  # "Aaron,Keontae E"
    response = confirm(hr, import_id, mapping, True)
    assert response.status_code == 400 and "No column is mapped to Employee ID" in response.text
    assert pg.execute("SELECT count(*) FROM employees").fetchone()[0] == 0
