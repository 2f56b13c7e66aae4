"""What keyboard and screen-reader users meet: a link that opens a page or a
file is announced as a link even where it looks like a button."""
import pytest
from playwright.sync_api import expect

from ..helpers import employee
from .test_list_in_browser import DESK, log_in

pytestmark = pytest.mark.browser


@pytest.fixture
def record(login) -> str:
    """One employee, added through the form (so the History has an entry)."""
    assert login("admin", "root").submit("/employees/new", employee("E1")).status_code == 303
    return "/employees/E1"


# The links drawn as buttons, by page: what each opens stays a link.
BUTTON_LOOKING_LINKS = {
    "/employees": ["Export CSV", "Add employee"],
    "/employees/E1": ["Edit", "Delete"],
    "/admin/users": ["New account"],
    "/imports": ["Import a file"],
    "/admin/audit": ["Download CSV"],
    "/reports/headcount": ["Download CSV"],
}


def test_links_that_look_like_buttons_are_links(page, record):
    log_in(page, "root", DESK)
    for path, names in BUTTON_LOOKING_LINKS.items():
        page.goto(path)
        expect(page.locator("[role=button]")).to_have_count(0)
        for name in names:
            link = page.get_by_role("main").get_by_role("link", name=name, exact=True)
            expect(link).to_have_count(1)
            look = link.evaluate("""a => { const s = getComputedStyle(a);
                return {border: s.borderTopStyle, underline: s.textDecorationLine,
                        padding: parseFloat(s.paddingLeft) >= 8, inline: s.display === 'inline'}; }""")
            assert look == {"border": "solid", "underline": "none", "padding": True, "inline": False}, \
                (path, name, look)
