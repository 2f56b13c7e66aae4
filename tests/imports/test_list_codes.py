"""An import gives a department or job by its code in the list: the mapping
page offers "Department code" and "Job code", headers such as "dept code"
or "job_id" find them, a code resolves through its list (any case), an
unknown code or a code that contradicts the row's name makes the row
invalid with the reason. And the Globant files, lists and hires, end to end."""
import re
from datetime import date

from ..globant import globant  # noqa: F401  (the fixture)
from ..list_helpers import report_counts, upload_list
from .conftest import csv_bytes, import_id_of, run_upload, upload


def rejections(pg, import_id: int) -> dict[int, tuple[str, str]]:
    return {row: (field, error) for row, field, error in pg.execute(
        "SELECT row_number, field, error FROM import_rejections WHERE import_id = %s", (import_id,))}


def stored(pg) -> dict[str, tuple]:
    """employee_id -> (department, job) as the records refer to them now."""
    return {employee_id: (department, job) for employee_id, department, job in pg.execute(
        "SELECT e.employee_id, d.name, j.name FROM employees e LEFT JOIN departments d ON d.id = e.department_id"
        " LEFT JOIN jobs j ON j.id = e.job_id")}


def lists_of(admin) -> None:
    """Engineering (code 10) and Sales (20); Analyst (J1) and Clerk (J2)."""
    assert upload_list(admin, "departments", b"10,Engineering\n20,Sales\n").status_code == 200
    assert upload_list(admin, "jobs", b"code,name\nJ1,Analyst\nJ2,Clerk\n").status_code == 200


def test_codes_resolve_through_their_lists_and_an_unknown_one_is_refused(login, pg, worker):
    admin = login("admin")
    lists_of(admin)
    content = csv_bytes([["ID", "First Name", "Last Name", "Dept Code", "job_id"],
                         ["E1", "Ada", "Lovelace", "10", "J1"],
                         ["E2", "Ada", "Byron", "99", "J1"],
                         ["E3", "Grace", "Hopper", " 20 ", "j2"],  # any case, spaces around
                         ["E4", "Alan", "Turing", "", ""],
                         ["E5", "Edsger", "Dijkstra", "10", "J9"],
                         ["E6", "Barbara", "Liskov", "1\u202e0", ""]])
    import_id, result = run_upload(admin, pg, content)  # every header recognised: no mapping page
    assert pg.execute("SELECT mapping FROM imports WHERE id = %s", (import_id,)).fetchone()[0] == \
        ["employee_id", "first_name", "last_name", "department_code", "job_code"]
    assert (result["status"], result["inserted"], result["invalid"]) == ("done", 4, 2)
    assert rejections(pg, import_id) == {
        3: ("department_code", "Department code 99 is not in the departments list."),
        6: ("job_code", "Job code J9 is not in the jobs list."),
    }
    # The direction override is an invisible character in a code, as in an ID: removed.
    assert stored(pg) == {"E1": ("Engineering", "Analyst"), "E3": ("Sales", "Clerk"), "E4": (None, None),
                          "E6": ("Engineering", None)}
    # The record's history: created by the import, with the entries its codes named.
    history = admin.get("/employees/E1").text.split('id="history"')[1]
    assert re.search(rf'Created by\s+<a href="/imports/{import_id}">import #{import_id}</a>, row 2', history)
    for field, label, value in (("department", "Department", "Engineering"), ("job_title", "Job title", "Analyst")):
        assert re.search(rf'data-field="{field}"><span class="change-field">{label}</span>:\s*{value}</li>', history)
    page = admin.get(f"/imports/{import_id}").text
    assert "Department code 99 is not in the departments list." in page and "<td>Department code</td>" in page


def test_a_row_giving_a_name_and_a_code_that_disagree_is_refused(login, pg, worker):
    admin = login("admin")
    lists_of(admin)
    content = csv_bytes([["employee_id", "first_name", "last_name", "department", "department_code", "job_title",
                          "job_code"],
                         ["E1", "Ada", "Lovelace", "engineering", "10", "", "J1"],  # the same entry: fine
                         ["E2", "Ada", "Byron", "Sales", "10", "", ""],
                         ["E3", "Grace", "Hopper", "Marketing", "", "Clerk", "J2"]])  # a name alone adds it
    import_id, result = run_upload(admin, pg, content)
    assert (result["inserted"], result["invalid"]) == (2, 1)
    assert rejections(pg, import_id) == {3: (
        "department_code",
        "Department code 10 is Engineering in the departments list, but the row's department is Sales.")}
    assert stored(pg) == {"E1": ("Engineering", "Analyst"), "E3": ("Marketing", "Clerk")}

    # An update from a file: the code gives the new department, audited by name.
    again = csv_bytes([["employee_id", "first_name", "last_name", "department_code"], ["E3", "Grace", "Hopper", "20"]])
    _, result = run_upload(admin, pg, again, on_existing="update")
    assert result["updated"] == 1 and stored(pg)["E3"] == ("Sales", None)
    update = pg.execute("SELECT changes FROM audit_log WHERE employee_id = 'E3' AND action = 'update'").fetchone()[0]
    assert update["department"] == ["Marketing", "Sales"]


def test_the_mapping_page_offers_the_code_targets(login, pg, worker):
    hr = login("hr")
    import_id = import_id_of(upload(hr, csv_bytes([["E1", "Ada Lovelace", "2024-01-02", "5", "7"],
                                                   ["E2", "Grace Hopper", "2024-01-03", "5", "8"]])))
    page = hr.get(f"/imports/{import_id}/mapping").text
    options = re.findall(r'<option value="([^"]+)"', page.split('name="column-3"')[1].split("</select>")[0])
    assert options.index("department_code") == options.index("department") + 1
    assert options.index("job_code") == options.index("job_title") + 1
    assert ">Department code</option>" in page and ">Job code</option>" in page


def test_the_globant_lists_and_hires_load_with_their_codes(globant, pg):
    assert report_counts(globant.list_reports["departments"]) == \
        {"added": 12, "renamed": 0, "unchanged": 0, "refused": 0}
    assert report_counts(globant.list_reports["jobs"]) == {"added": 183, "renamed": 0, "unchanged": 0, "refused": 0}
    assert dict(pg.execute("SELECT code, name FROM departments").fetchall()) == globant.departments
    assert dict(pg.execute("SELECT code, name FROM jobs").fetchall()) == globant.jobs
    assert len(globant.departments) == 12 and len(globant.jobs) == 183

    nameless = {number for number, row in enumerate(globant.hires, start=1) if not row[1].strip()}
    assert len(globant.hires) == 1999 and len(nameless) == 19
    result = globant.result
    assert (result["status"], result["rows_read"], result["inserted"], result["duplicates"], result["invalid"]) == \
        ("done", 1999, 1999 - 19, 0, 19)
    refused = rejections(pg, globant.import_id)
    assert set(refused) == nameless
    # Said of the one column the file has, not of two fields it does not.
    assert set(refused.values()) == {
        ("full_name", "Full name (First Last) is empty: every employee needs a first and a last name.")}

    # Every stored hire has the department and job its codes name in the two files.
    expected = {row[0]: (globant.departments.get(row[3]), globant.jobs.get(row[4]))
                for number, row in enumerate(globant.hires, start=1) if number not in nameless}
    assert stored(pg) == expected
    first = globant.hires[0]  # 1,Harold Vogt,2021-11-07T02:48:42Z,2,96
    assert pg.execute("SELECT first_name, last_name, hire_date FROM employees WHERE employee_id = %s",
                      (first[0],)).fetchone() == ("Harold", "Vogt", date(2021, 11, 7))
    assert expected[first[0]] == (globant.departments["2"], globant.jobs["96"]) and globant.departments["2"] == "Sales"
    without_job = next(row for row in globant.hires if row[1].strip() and not row[4])
    assert stored(pg)[without_job[0]][1] is None
    assert "183 jobs." in globant.admin.get("/jobs").text
