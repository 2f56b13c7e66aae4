"""What the list page keeps between requests (services/short_cache.py) and
builds once per page (employees/views.record_url): never a wrong page.

The departments of the filter and the table's estimate are kept up to
SHORT_CACHE_SECONDS (5) in each app process: a department the app adds is
in the filter at the next request, in every process; one added behind the
app's back (an import's own transaction, SQL) within those seconds."""
import re
import time

from flask import url_for

from employee_app.employees.views import record_url
from employee_app.services.short_cache import SHORT_CACHE_SECONDS

from ..helpers import employee
from ..list_helpers import add_entry


def filter_departments(client) -> list[str]:
    page = client.get("/employees").text
    select = page[page.index('<select id="department"'):]
    return re.findall(r'<option value="\d+"[^>]*>([^<]+)</option>', select[:select.index("</select>")])


def test_a_department_added_here_is_in_the_filter_at_once_one_added_elsewhere_within_seconds(login, pg):
    admin = login("admin")
    assert admin.submit("/employees/new", employee("E1", department="Sales")).status_code == 303
    for _ in range(6):  # both app processes keep the departments now
        assert filter_departments(admin) == ["Sales"]

    assert add_entry(admin, "departments", "Audit").status_code == 303
    assert [filter_departments(admin) for _ in range(6)] == [["Audit", "Sales"]] * 6
    assert admin.submit("/employees/new", employee("E2", email="e2@example.com",
                                                   department="Logistics")).status_code == 303
    assert [filter_departments(admin) for _ in range(6)] == [["Audit", "Logistics", "Sales"]] * 6

    pg.execute("INSERT INTO departments (name) VALUES ('Zoning')")  # behind the app's back
    added = time.monotonic()
    while "Zoning" not in filter_departments(admin) or "Zoning" not in filter_departments(admin):
        assert time.monotonic() - added < SHORT_CACHE_SECONDS + 2, "the new department did not show"
        time.sleep(0.2)


def test_a_rows_link_is_what_url_for_builds(app):
    state = {"q": "Ann & Bob/é? RECORD-ID", "sort": "name", "dir": "desc", "cursor": "WyJhIl0=", "start": "51"}
    with app.test_request_context("/employees"):
        link = record_url(state)
        for employee_id in ("E1", "A.B-C_D", "0042", "X Y%/?#&é", "RECORD-ID"):
            assert link(employee_id) == url_for("employees.show", employee_id=employee_id, **state)
        assert record_url({})("E7") == url_for("employees.show", employee_id="E7") == "/employees/E7"
