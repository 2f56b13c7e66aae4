"""Departments and jobs as managed lists, over HTTP: every role sees them
with their active employees; admins add, rename, recode, delete (each
audited) and upload whole lists; refusals say why; hostile files get a clear
4xx, never a 500."""
import csv
import io
import re
from html import unescape

import pytest

from ..helpers import csrf_token, employee
from ..list_helpers import add_entry, refused_rows, report_counts, upload_list
from ..workbooks import write_workbook

ROW_RE = re.compile(r'<tr>\s*<td><a href="/(?:departments|jobs)/(\d+)">([^<]*)</a></td>\s*<td>(.*?)</td>\s*'
                    r'<td class="number">([\d,]+)</td>', re.S)


def listed(client, kind: str) -> dict[str, tuple[str, int]]:
    """The list page's rows: name -> (code, active employees)."""
    page = client.get(f"/{kind}")
    assert page.status_code == 200, page.status_code
    return {unescape(name): (re.sub(r"<[^>]+>|—", "", code).strip(), int(active.replace(",", "")))
            for _id, name, code, active in ROW_RE.findall(page.text)}


def entry_id(pg, kind: str, name: str) -> int:
    return pg.execute(f"SELECT id FROM {kind} WHERE name = %s", (name,)).fetchone()[0]


def audit_rows(pg, subject: str) -> list[tuple]:
    """The list's entries written by its own pages (the staff fixture's
    employees add their departments and jobs with the add form, recorded
    with source form: test_new_entries_history.py)."""
    return pg.execute("SELECT action, source, entry_name, changes, actor_name, employee_pk FROM audit_log"
                      " WHERE subject = %s AND source <> 'form' ORDER BY id", (subject,)).fetchall()


@pytest.fixture
def staff(login):
    """An admin's client; three employees in Engineering (one terminated), one in Sales."""
    admin = login("admin", "ann")
    for number, department, job, status in ((1, "Engineering", "Analyst", "active"),
                                            (2, "Engineering", "Analyst", "active"),
                                            (3, "Engineering", "Engineer", "terminated"),
                                            (4, "Sales", "Account Manager", "active")):
        response = admin.submit("/employees/new", employee(f"E{number}", department=department, job_title=job,
                                                           status=status))
        assert response.status_code == 303, response.status_code
    return admin


def test_every_role_sees_both_lists_with_their_active_employees(staff, login):
    for role in ("viewer", "hr", "admin"):
        client = login(role)
        assert listed(client, "departments") == {"Engineering": ("", 2), "Sales": ("", 1)}
        assert listed(client, "jobs") == {"Account Manager": ("", 1), "Analyst": ("", 2), "Engineer": ("", 0)}
        page = client.get("/departments").text
        assert '<a href="/departments"' in page and '<a href="/jobs"' in page  # the main menu
        assert ('id="add-form"' in page) == ('id="upload-form"' in page) == (role == "admin")


def test_viewers_and_hr_see_an_entry_but_cannot_change_it(staff, login, pg):
    sales = entry_id(pg, "departments", "Sales")
    for role in ("viewer", "hr"):
        client = login(role)
        page = client.get(f"/departments/{sales}")
        assert page.status_code == 200 and "Sales" in page.text and 'id="edit-form"' not in page.text
        token = csrf_token(client.get("/account/password").text)
        for path, data in ((f"/departments", {"name": "Finance"}), (f"/departments/{sales}", {"name": "Sold"}),
                           (f"/departments/{sales}/delete", {}), ("/jobs", {"name": "Clerk"})):
            assert client.post(path, {"csrf_token": token, **data}).status_code == 403, (role, path)
        refused = client.post("/departments/upload", {"csrf_token": token}, files={"file": ("l.csv", b"1,Finance\n")})
        assert refused.status_code == 403
    assert pg.execute("SELECT count(*) FROM departments").fetchone()[0] == 2
    assert audit_rows(pg, "department") == []


def test_admins_add_rename_recode_and_delete_and_every_change_is_in_the_history(staff, pg):
    admin = staff
    added = add_entry(admin, "departments", "  Finance   and Control ", " fin-1 ")
    assert added.status_code == 303 and added.headers["Location"] == "/departments"
    assert "Department Finance and Control (code fin-1) added." in unescape(admin.get("/departments").text)
    finance = entry_id(pg, "departments", "Finance and Control")

    page = admin.get(f"/departments/{finance}").text
    form = {"name": "Finance", "code": "FIN-2", "opened_name": "Finance and Control", "opened_code": "fin-1"}
    saved = admin.post(f"/departments/{finance}", {"csrf_token": csrf_token(page), **form})
    assert saved.status_code == 303
    assert "renamed from Finance and Control to Finance, code fin-1 changed to FIN-2" in \
        unescape(admin.get(saved.headers["Location"]).text)
    assert listed(admin, "departments")["Finance"] == ("FIN-2", 0)
    # A case-only rename is a rename; removing the code is a recode.
    page = admin.get(f"/departments/{finance}").text
    form = {"name": "FINANCE", "code": "", "opened_name": "Finance", "opened_code": "FIN-2"}
    assert admin.post(f"/departments/{finance}", {"csrf_token": csrf_token(page), **form}).status_code == 303

    page = admin.get(f"/departments/{finance}").text
    deleted = admin.post(f"/departments/{finance}/delete", {"csrf_token": csrf_token(page)})
    assert deleted.status_code == 303 and deleted.headers["Location"] == "/departments"
    assert "FINANCE" not in listed(admin, "departments")

    assert [(action, source, name, changes, actor, pk) for action, source, name, changes, actor, pk
            in audit_rows(pg, "department")] == [
        ("create", "list", "Finance and Control", {"name": [None, "Finance and Control"], "code": [None, "fin-1"]},
         "ann", None),
        ("update", "list", "Finance", {"name": ["Finance and Control", "Finance"], "code": ["fin-1", "FIN-2"]},
         "ann", None),
        ("update", "list", "FINANCE", {"name": ["Finance", "FINANCE"], "code": ["FIN-2", None]}, "ann", None),
        ("delete", "list", "FINANCE", {"name": ["FINANCE", None]}, "ann", None),
    ]
    # The history page shows them among the employees' changes, filtered too,
    # and in its CSV; a deleted entry is named without a link.
    history = unescape(admin.get("/admin/audit", params={"subject": "department"}).text)
    assert history.count("on the list page") == 4 and "Lovelace" not in history
    assert 'href="/departments/%d">Finance and Control</a>' % finance in history
    assert re.search(r"Department</span>\s*FINANCE\s*</td>", history)  # deleted: no link
    everything = unescape(admin.get("/admin/audit").text)
    assert 'href="/employees/E1"' in everything and "Finance and Control" in everything
    assert "Finance" not in unescape(admin.get("/admin/audit", params={"subject": "employee"}).text)
    rows = list(csv.DictReader(io.StringIO(admin.get("/admin/audit.csv", params={"subject": "department"})
                                           .content.decode("utf-8-sig"))))
    assert {(r["subject"], r["list_entry"], r["action"], r["field"], r["old_value"], r["new_value"])
            for r in rows if r["action"] == "update"} == {
        ("department", "Finance", "update", "name", "Finance and Control", "Finance"),
        ("department", "Finance", "update", "code", "fin-1", "FIN-2"),
        ("department", "FINANCE", "update", "name", "Finance", "FINANCE"),
        ("department", "FINANCE", "update", "code", "FIN-2", "")}
    assert all(r["employee_id"] == "" for r in rows)


def test_an_entry_page_shows_its_employees_and_its_history(staff, pg, login):
    admin = staff
    engineering = entry_id(pg, "departments", "Engineering")
    page = admin.get(f"/departments/{engineering}").text
    form = {"name": "Engineering", "code": "5", "opened_name": "Engineering", "opened_code": ""}
    assert admin.post(f"/departments/{engineering}", {"csrf_token": csrf_token(page), **form}).status_code == 303

    viewer = login("viewer").get(f"/departments/{engineering}").text
    assert "2 active, 3 in all" in viewer and f'href="/employees?department={engineering}"' in viewer
    history = unescape(viewer[viewer.index('id="history"'):])
    assert "Changed on the list page" in history and "ann" in history and "Code" in history
    # An employee shows the renamed department at once: it refers to the entry.
    page = admin.get(f"/departments/{engineering}").text
    form = {"name": "Research", "code": "5", "opened_name": "Engineering", "opened_code": "5"}
    assert admin.post(f"/departments/{engineering}", {"csrf_token": csrf_token(page), **form}).status_code == 303
    assert "Research" in admin.get("/employees/E1").text


def test_refusals_say_why_and_change_nothing(staff, pg):
    admin = staff
    assert add_entry(admin, "jobs", "Clerk", "C1").status_code == 303
    clerk, analyst = entry_id(pg, "jobs", "Clerk"), entry_id(pg, "jobs", "Analyst")

    for name, code, status, field, says in (
            ("ANALYST", "", 409, "name", "The job Analyst is already in the list."),
            ("\uff21\uff2e\uff21\uff2c\uff39\uff33\uff34", "", 409, "name",  # full-width letters: the same name
             "The job Analyst is already in the list."),
            ("An\u0430lyst", "", 422, "name", "Name mixes letters of different scripts (Cyrillic and Latin), "
                                              "so it could pass for another one."),
            ("Typist", " c1 ", 409, "code", "Code c1 is already the code of Clerk."),
            ("", "", 422, "name", "Name is required."),
            ("Evil\u202eman", "", 422, "name", "Name contains an invisible or direction-changing character "
                                              "(U+202E RIGHT-TO-LEFT OVERRIDE)."),
            ("Nul\x00l", "", 422, "name", "Name contains a control character (U+0000"),
            ("x" * 40_000, "", 422, "name", "Name is longer than 120 characters."),
            ("Typist", "C" * 33, 422, "code", "Code is longer than 32 characters."),
            ("Typist", "а1", 200, None, None)):  # a Cyrillic "а" is a code of its own script: fine
        response = add_entry(admin, "jobs", name, code)
        if status == 200:
            assert response.status_code == 303
            continue
        assert response.status_code == status, (name[:20], response.status_code)
        error = unescape(re.search(rf'<small id="{field}-error" class="field-error">(.*?)</small>',
                                   response.text, re.S).group(1))
        assert says in error, error
    taken = add_entry(admin, "jobs", "analyst")
    assert f'<a href="/jobs/{analyst}">Open Analyst</a>' in taken.text

    # A rename onto another entry's name; a delete of a used entry says where it is used.
    page = admin.get(f"/jobs/{clerk}").text
    form = {"csrf_token": csrf_token(page), "name": "analyst", "code": "C1", "opened_name": "Clerk",
            "opened_code": "C1"}
    assert admin.post(f"/jobs/{clerk}", form).status_code == 409
    engineering = entry_id(pg, "departments", "Engineering")
    page = admin.get(f"/departments/{engineering}").text
    assert "Engineering is the department of 3 employees: merge it into another department above, or move them " \
           "first." in page
    assert 'id="delete-form"' not in page
    used = admin.post(f"/departments/{engineering}/delete", {"csrf_token": csrf_token(page)})
    assert used.status_code == 409
    assert "Engineering is the department of 3 employees: merge it into another department, or move them first." \
        in used.text

    # Someone else renamed the entry after this page was opened: nothing is overwritten.
    page = admin.get(f"/jobs/{clerk}").text
    pg.execute("UPDATE jobs SET name = 'Senior Clerk' WHERE id = %s", (clerk,))
    stale = admin.post(f"/jobs/{clerk}", {"csrf_token": csrf_token(page), "name": "Junior Clerk", "code": "C1",
                                          "opened_name": "Clerk", "opened_code": "C1"})
    assert stale.status_code == 409
    assert "Someone changed this job while you had it open: it is now Senior Clerk (code C1)." in unescape(stale.text)
    assert pg.execute("SELECT name FROM jobs WHERE id = %s", (clerk,)).fetchone()[0] == "Senior Clerk"
    # ... and the form sent back saves knowingly.
    again = admin.post(f"/jobs/{clerk}", {"csrf_token": csrf_token(stale.text), "name": "Junior Clerk", "code": "C1",
                                          "opened_name": "Senior Clerk", "opened_code": "C1"})
    assert again.status_code == 303
    assert admin.get("/jobs/2147483647").status_code == 404
    assert [row[0] for row in audit_rows(pg, "job")] == ["create", "create", "update"]


def test_the_upload_adds_renames_and_reports_every_row(staff, pg):
    admin = staff
    first = upload_list(admin, "departments", b"10,Engineering\n20,Finance\n30,Legal\n")
    assert first.status_code == 200
    # Engineering was in the list without a code: it is given one.
    assert report_counts(first.text) == {"added": 2, "renamed": 0, "coded": 1, "unchanged": 0, "refused": 0}
    assert "no header row: the columns are code, name" in first.text
    assert listed(admin, "departments") == {"Engineering": ("10", 2), "Finance": ("20", 0), "Legal": ("30", 0),
                                            "Sales": ("", 1)}

    # With a header naming the columns the other way round.
    content = ("Name;Dept Code\n"
               "Engineering;10\n"          # 2 unchanged
               "Finance & Accounting;20\n"  # 3 renamed
               "Legal;\n"                  # 4 no code
               "Audit;40\n"                # 5 added
               "Audit Two;40\n"            # 6 the code repeats row 5
               "Sales;50\n"                # 7 Sales is in the list without a code: given 50
               "Finance;60\n"              # 8 the name row 3 freed: added
               "Legal;70\n"                # 9 Legal has code 30
               "Bad\u202eName;80\n"        # 10
               "\u00a0;90\n"               # 11 an empty name
               ).encode()
    second = upload_list(admin, "departments", content)
    assert second.status_code == 200
    assert report_counts(second.text) == {"added": 2, "renamed": 1, "coded": 1, "unchanged": 1, "refused": 5}
    assert refused_rows(second.text) == {
        4: "The code is empty: each row needs a code and a name.",
        6: "Code 40 is also on row 5 of this file.",
        9: "Legal is already in the list with code 30; to give it another code, change it on its page in the "
           "departments list.",
        10: "Name contains an invisible or direction-changing character (U+202E RIGHT-TO-LEFT OVERRIDE).",
        11: "The name is empty: each row needs a code and a name.",
    }
    assert "Bad\ufffdName" in unescape(second.text) and "\u202e" not in second.text  # shown without its override
    assert "<del>Finance</del></td><td><ins>Finance &amp; Accounting</ins>" in second.text
    assert listed(admin, "departments") == {
        "Audit": ("40", 0), "Engineering": ("10", 2), "Finance": ("60", 0), "Finance & Accounting": ("20", 0),
        "Legal": ("30", 0), "Sales": ("50", 1)}
    uploads = pg.execute("SELECT action, entry_name, changes FROM audit_log WHERE source = 'list_upload'"
                         " ORDER BY id").fetchall()
    assert ("update", "Finance & Accounting", {"name": ["Finance", "Finance & Accounting"]}) in uploads
    assert ("update", "Sales", {"code": [None, "50"]}) in uploads
    assert len(uploads) == 3 + 4  # every change, once

    # The same file again changes nothing.
    third = upload_list(admin, "departments", content)
    assert report_counts(third.text)["unchanged"] == 5 and "Nothing in the list was changed." in third.text


def test_an_xlsx_list_is_read_like_a_csv(staff, tmp_path):
    rows = "".join(f'<row r="{n}"><c r="A{n}"><v>{n}</v></c><c r="B{n}" t="inlineStr"><is><t>Job {n}</t></is></c></row>'
                   for n in range(1, 4))
    path = write_workbook(tmp_path / "jobs.xlsx", rows)
    response = upload_list(staff, "jobs", open(path, "rb").read(), "jobs.xlsx")
    assert response.status_code == 200 and report_counts(response.text)["added"] == 3
    assert listed(staff, "jobs")["Job 2"] == ("2", 0)  # "2", not Excel's 2.0


def test_hostile_list_files_get_a_clear_answer(staff, pg, tmp_path):
    admin = staff

    def upload(content: bytes, name: str = "list.csv"):
        response = upload_list(admin, "jobs", content, name)
        assert response.status_code < 500
        return response

    long_cell = upload(b"1,Clerk\n2," + b"x" * 40_000 + b"\n3,Typist\n")
    assert report_counts(long_cell.text) == {"added": 2, "renamed": 0, "unchanged": 0, "refused": 1}
    assert "longer than 32,767 characters" in refused_rows(long_cell.text)[2]
    # (One NUL in a file of a dozen bytes makes it binary; among real rows it is one bad cell.)
    nul = upload("".join(f"{n},Title number {n}\n" for n in range(10, 30)).encode() + b"30,Nul\x00Name\n")
    assert refused_rows(nul.text) == {21: "Name contains a control character (U+0000)."}

    too_many = upload("".join(f"{n},Job {n}\n" for n in range(10_001)).encode())
    assert too_many.status_code == 413
    assert "The file has more than 10,000 rows: a list upload takes at most 10,000." in unescape(too_many.text)
    header_and_10_000 = upload(("code,name\n" + "".join(f"{n},Job {n}\n" for n in range(10_000))).encode())
    assert header_and_10_000.status_code == 200

    for content, name, status, says in (
            (b"", "empty.csv", 400, "The file is empty"),
            (b"\x00\x01\x02\x03" * 1000, "picture.png", 400, "This looks like a binary file"),
            (b"1,Clerk,extra\n", "wide.csv", 400, "The first row has 3 columns: a job list has two, code and name"),
            (b"Clerk\n", "one.csv", 400, "The first row has 1 column"),
            (b"x" * (5 * 1024 * 1024 + 1), "big.csv", 413, "larger than the limit of 5 MB")):
        response = upload(content, name)
        assert response.status_code == status and says in unescape(response.text), (name, response.status_code)

    chunk = b"a" * 2**20
    bomb = write_workbook(tmp_path / "bomb.xlsx", [b'<row r="1"><c r="A1" t="inlineStr"><is><t>', *[chunk] * 300,
                                                   b'</t></is></c></row>'])
    response = upload(open(bomb, "rb").read(), "bomb.xlsx")
    assert response.status_code == 413 and "it looks like a ZIP bomb and is refused" in response.text
    assert pg.execute("SELECT count(*) FROM jobs WHERE name LIKE 'Job %%'").fetchone()[0] == 10_000


def test_the_employee_form_suggests_the_departments_and_jobs(staff):
    for path in ("/employees/new", "/employees/E1/edit"):
        page = staff.get(path).text
        assert 'list="job-names"' in page and 'list="department-names"' in page
        jobs = re.search(r'<datalist id="job-names">(.*?)</datalist>', page, re.S).group(1)
        assert re.findall(r'<option value="([^"]+)">', jobs) == ["Account Manager", "Analyst", "Engineer"]
    # A new name typed still creates its entry, as before.
    assert staff.submit("/employees/new", employee("E9", job_title="Typist")).status_code == 303
    assert "Typist" in listed(staff, "jobs")
