"""The Globant challenge files, loaded as an admin loads them, over HTTP:
departments.csv and jobs.csv (headerless: id, name) uploaded as lists with
their pages' Upload a list form, then hired_employees.csv (headerless: id,
name, datetime, department_id, job_id) imported through the mapping page
(id -> Employee ID, name -> Full name (First Last), datetime -> Hire date,
department_id -> Department code, job_id -> Job code) and run by an import
worker of the fixture's own.

The files are a copy of the team's shared data set, kept in
tests/data/globant-challenge-csv (its SOURCE.md says where they come from),
so that these tests run everywhere. To use the fixture in a test module:

    from ..globant import globant  # noqa: F401  (the fixture)
"""
import csv
import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from .helpers import HttpClient, csrf_token
from .imports.conftest import Worker, import_id_of, upload, wait_for_import
from .list_helpers import upload_list

FOLDER = Path(__file__).resolve().parent / "data" / "globant-challenge-csv"
HIRES_MAPPING = ["employee_id", "full_name", "hire_date", "department_code", "job_code"]


@dataclass
class Globant:
    admin: HttpClient  # the admin who loaded them
    departments: dict[str, str]  # code -> name, as departments.csv has them
    jobs: dict[str, str]
    hires: list[list[str]]  # hired_employees.csv's rows, as the csv module reads them
    import_id: int
    result: dict  # the import's row: status and counts (tests/imports/conftest.wait_for_import)
    list_reports: dict[str, str]  # "departments" / "jobs" -> the upload report page


def read(name: str) -> list[list[str]]:
    with open(FOLDER / name, newline="", encoding="utf-8") as f:
        return list(csv.reader(f))


def load(admin: HttpClient, pg) -> Globant:
    """Upload the two lists, import the hires (a worker must be running)."""
    reports = {}
    for kind, name in (("departments", "departments.csv"), ("jobs", "jobs.csv")):
        response = upload_list(admin, kind, (FOLDER / name).read_bytes(), name)
        assert response.status_code == 200, (kind, response.status_code, response.text[-1000:])
        reports[kind] = response.text
    import_id = import_id_of(upload(admin, (FOLDER / "hired_employees.csv").read_bytes(), "hired_employees.csv"))
    page = admin.get(f"/imports/{import_id}/mapping")
    assert page.status_code == 200, page.status_code
    confirmed = admin.post(f"/imports/{import_id}/mapping", {
        "csrf_token": csrf_token(page.text), **{f"column-{i}": target for i, target in enumerate(HIRES_MAPPING)}})
    assert confirmed.status_code == 303, confirmed.text[-1000:]
    return Globant(admin, dict(read("departments.csv")), dict(read("jobs.csv")), read("hired_employees.csv"),
                   import_id, wait_for_import(pg, import_id), reports)


@pytest.fixture
def globant(login, pg, app_env, tmp_path) -> Globant:
    worker = Worker(dict(os.environ, **app_env), tmp_path / "globant-worker.log").start()
    try:
        loaded = load(login("admin"), pg)
    except BaseException:
        print(f"--- the import worker's log ---\n{worker.output()[-5000:]}")
        raise
    finally:
        worker.stop()  # the import is done: the test needs no worker
    yield loaded
