"""What keyboard and screen-reader users meet: a link that opens a page or a
file is announced as a link even where it looks like a button; wherever the
keyboard is, a ring says so, clearly, in the light and the dark theme; and
a printed page holds what is read, not the controls around it."""
import pytest
from playwright.sync_api import expect

from ..helpers import employee
from .conftest import watched_page
from .test_list_in_browser import DESK, log_in, staff  # noqa: F401 (a fixture)
from .test_phone_layout import PHONE

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


# The focused element's ring: its outline (style, width, colour) and the
# colour it is drawn on (the first opaque background among its ancestors:
# the ring sits outside the element, past a gap).
FOCUS_RING = """() => {
    const el = document.activeElement;
    if (!el || el === document.body) return null;
    const s = getComputedStyle(el);
    let under = el.parentElement, bg = null;
    for (; under && !bg; under = under.parentElement) {
        const c = getComputedStyle(under).backgroundColor;
        const alpha = (c.match(/[\\d.]+/g) || [])[3];
        if (c !== 'transparent' && (alpha === undefined || Number(alpha) > 0.9)) bg = c;
    }
    const named = (el.textContent || el.name || '').trim().slice(0, 30);
    return {what: el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') + ' ' + named,
            style: s.outlineStyle, width: parseFloat(s.outlineWidth), color: s.outlineColor,
            on: bg || getComputedStyle(document.documentElement).backgroundColor};
}"""


def _rgb(css: str) -> tuple:
    parts = [float(p) for p in css[css.index("(") + 1:-1].replace("/", " ").replace(",", " ").split()]
    assert css.startswith("rgb") and (len(parts) == 3 or parts[3] == 1), f"not an opaque colour: {css}"
    return tuple(parts[:3])


def contrast(a: str, b: str) -> float:
    def luminance(rgb):
        lin = [c / 255 / 12.92 if c / 255 <= 0.03928 else ((c / 255 + 0.055) / 1.055) ** 2.4 for c in rgb]
        return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]
    high, low = sorted((luminance(_rgb(a)), luminance(_rgb(b))), reverse=True)
    return (high + 0.05) / (low + 0.05)


def tab_through(page, stops: int = 60) -> list:
    """Press Tab from the top of the page; each focused element's ring."""
    rings = []
    page.locator("body").focus()
    for _ in range(stops):
        page.keyboard.press("Tab")
        ring = page.evaluate(FOCUS_RING)
        if ring is None or (rings and ring == rings[0]):
            break
        rings.append(ring)
    return rings


def weak_rings(rings: list) -> list:
    return [ring for ring in rings if ring["style"] in ("none", "hidden") or ring["width"] < 2
            or contrast(ring["color"], ring["on"]) < 3]


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_every_focusable_element_shows_a_clear_ring(browser, live_server, record, scheme):
    """The menu bar, the account menu, the search form, the tick boxes,
    primary and outline buttons, links drawn as buttons, a file input."""
    with watched_page(browser, live_server, color_scheme=scheme) as page:
        log_in(page, "root", DESK)
        seen = set()
        for path in ("/employees", "/employees/E1", "/imports/new", "/reports/headcount"):
            page.goto(path)
            rings = tab_through(page)
            assert len(rings) >= 10, (path, rings)
            assert weak_rings(rings) == [], (path, scheme)
            seen |= {ring["what"].split(" ")[0].split("#")[0] for ring in rings}
        assert {"a", "button", "input", "select", "summary"} <= seen, seen
        # On a phone, the Menu button and the folded menu's links.
        page.set_viewport_size(PHONE)
        page.goto("/employees")
        rings = tab_through(page, 20)
        assert any(ring["what"].startswith("button") and "Menu" in ring["what"] for ring in rings), rings
        page.get_by_role("button", name="Menu").click()
        rings += tab_through(page, 20)
        assert any(ring["what"] == "a History" for ring in rings), rings
        assert weak_rings(rings) == [], scheme


PRINTED = """() => {
    const shown = el => el.getClientRects().length > 0 && getComputedStyle(el).visibility !== 'hidden';
    const all = selector => [...document.querySelectorAll(selector)];
    const main = document.querySelector('main');
    return {
        controls: all('body > header, button, a.button, [type=submit], nav.pager, #bulk-form, [type=checkbox], '
                      + '.filter-actions, .back-link, nav[aria-label=breadcrumb]')
                  .filter(shown).map(el => el.outerHTML.slice(0, 60)),
        colouredLinks: all('main a').filter(shown).map(a => getComputedStyle(a))
                       .filter(s => s.color !== 'rgb(0, 0, 0)' || s.textDecorationLine !== 'none')
                       .map(s => s.color + ' ' + s.textDecorationLine),
        text: getComputedStyle(main).color, paper: getComputedStyle(document.body).backgroundColor,
        rowsKeptWhole: all('main tr').filter(shown).every(tr => getComputedStyle(tr).breakInside === 'avoid'),
        headRepeats: all('main thead').filter(shown).every(h => getComputedStyle(h).display === 'table-header-group'),
        tables: all('main table').filter(shown).length,
    };
}"""


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_a_printed_list_record_report_or_history_holds_only_what_is_read(browser, live_server, staff, record,
                                                                          scheme):
    with watched_page(browser, live_server, color_scheme=scheme) as page:
        log_in(page, "root", DESK)
        for path in ("/employees", "/employees/E1", "/reports/headcount", "/admin/audit"):
            page.goto(path)
            page.emulate_media(media="print")
            printed = page.evaluate(PRINTED)
            assert printed["controls"] == [], (path, printed["controls"])
            assert printed["colouredLinks"] == [], path
            assert (printed["text"], printed["paper"]) == ("rgb(0, 0, 0)", "rgba(0, 0, 0, 0)"), path
            assert printed["tables"] >= 1 and printed["rowsKeptWhole"] and printed["headRepeats"], (path, printed)
            if path == "/employees":  # the table (not the phone's cards: paper is narrower than 1024 px)
                expect(page.locator("table").get_by_role("cell", name="S1", exact=True)).to_be_visible()
                expect(page.locator("ol.cards")).to_be_hidden()
            page.emulate_media(media="screen")
            expect(page.locator("body > header")).to_be_visible()
