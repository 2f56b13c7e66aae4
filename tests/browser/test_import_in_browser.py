"""A person at a browser uploads a staff list and watches it import."""
import csv
import io
import re

import pytest
from playwright.sync_api import expect

from ..helpers import PASSWORD
from ..imports.conftest import start_worker, worker  # noqa: F401 (fixtures)

pytestmark = pytest.mark.browser


def staff_csv(count: int) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["Employee ID", "First Name", "Last Name", "E-mail", "Hire Date"])
    for n in range(1, count + 1):
        hire = "2024-02-30" if n % 1000 == 0 else "2024-02-03"  # every 1000th row has no such date
        writer.writerow([f"B{n:06d}", "Ada", f"Name{n}", f"b{n}@example.com", hire])
    return buffer.getvalue().encode()


def test_upload_watch_the_progress_reach_100_and_download_the_rejected_rows(page, make_user, worker, tmp_path):
    make_user("imogen", "hr")
    page.goto("/login")
    page.get_by_label("Username").fill("imogen")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()

    page.get_by_role("link", name="Imports").click()
    page.get_by_role("link", name="Import a file").click()
    path = tmp_path / "staff.csv"
    path.write_bytes(staff_csv(40_000))
    page.get_by_label("CSV or Excel (.xlsx) file").set_input_files(str(path))
    page.get_by_role("button", name="Upload").click()

    expect(page).to_have_url(re.compile(r"/imports/\d+$"))
    expect(page.locator("#import-bar")).to_be_visible()  # the progress, while it runs
    expect(page.locator("#import-status")).to_have_text("done", timeout=60_000)
    expect(page.locator("#count-added")).to_have_text("39,960")
    expect(page.locator("#import-sum")).to_contain_text(
        "39,960 inserted + 0 duplicates + 40 invalid = 40,000 of 40,000 rows read")
    expect(page.locator("#rejections")).to_contain_text("Hire date 2024-02-30 is not a date")
    expect(page.locator("#rejections tbody tr").first).to_contain_text("Hire date")  # the Field column, in words

    with page.expect_download() as download_info:
        page.locator("#rejected-link").click()
    rejected = download_info.value.path().read_text(encoding="utf-8-sig")
    rows = list(csv.reader(io.StringIO(rejected)))
    assert rows[0] == ["Employee ID", "First Name", "Last Name", "E-mail", "Hire Date", "row", "error"]
    assert len(rows) == 41 and rows[1][0] == "B001000" and rows[1][5] == "1001"
