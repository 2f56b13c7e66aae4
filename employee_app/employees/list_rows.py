"""The employee list's rows as HTML: the table's rows (desks) and the same
people as cards (phones), written here instead of in a Jinja loop.

The list page is the page loaded most, and its 50 people are shown twice,
about 1,100 values in all. In Jinja each value cost a lookup, an escape and
a Markup object of its own: the two loops were half of the page's time under
load. Here a row's texts are escaped once, and only when one of them holds
a character markup would read (as markupsafe.escape and Jinja's autoescape
write it), and put everywhere they go. employees/list.html places the
results and keeps everything else on the page; the markup is the one its
loops wrote.
"""
import re

from markupsafe import Markup

from .. import clock
from ..services.employee_rules import past_last_day


def escape(value) -> str:
    """The text as markupsafe.escape writes it (the same five entities), as a
    plain str: about three times faster for the short values of a row, as no
    Markup object is made per value."""
    return (str(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&#34;").replace("'", "&#39;"))


# A row whose texts hold none of these is written as it is: one search per
# row instead of an escape per value (most names and addresses need none).
MARKUP_CHARS_RE = re.compile(r"[&<>\"']")

# The status as people read it; an unknown status is shown as stored.
STATUS_WORDS = {"active": "active", "on_leave": "on leave", "terminated": "terminated"}
BADGES = {status: f'<span class="badge status-{status}">{words}</span>' for status, words in STATUS_WORDS.items()}


def _badge(status: str) -> str:
    return BADGES.get(status) or (f'<span class="badge status-{escape(status)}">'
                                  f'{escape(status.replace("_", " "))}</span>')


# Beside the status of someone still active or on leave after the last day
# (employee_rules.past_last_day): the list would otherwise call them employed.
PAST_LAST_DAY_BADGE = ' <span class="badge past-last-day" title="The termination date has passed: set the status ' \
                      'to Terminated, or correct the date">after last day</span>'


def render(rows, *, selectable: bool) -> tuple[Markup, Markup]:
    """(the table's <tr>s, the cards' <li>s) for rows of (href, employee),
    employee a services.employees.ListedEmployee. selectable: a checkbox per
    row for the bulk form (admins)."""
    table, cards = [], []
    today = clock.today()
    for href, employee in rows:
        texts = (href, employee.employee_id, employee.last_name, employee.first_name, employee.email or "",
                 employee.department_name or "", employee.job_title or "")
        if MARKUP_CHARS_RE.search("".join(texts)):
            texts = tuple(escape(text) for text in texts)
        href, employee_id, last_name, first_name, email, department, job_title = texts
        name = f"{last_name}, {first_name}"
        local, at, domain = email.partition("@")  # escaping leaves "@" as it is
        hire_date = employee.hire_date.isoformat() if employee.hire_date else ""
        badge = _badge(employee.status)
        if employee.termination_date is not None and past_last_day(employee.status, employee.termination_date, today):
            badge += PAST_LAST_DAY_BADGE
        checkbox = (f'<td><input type="checkbox" name="ids" value="{employee_id}" form="bulk-form" '
                    f'aria-label="Select {employee_id}" data-select-row></td>') if selectable else ""
        table.append(
            f'<tr>{checkbox}\n'
            f'  <td><a href="{href}">{employee_id}</a></td>\n'
            f'  <td>{name}</td>\n'
            f'  <td class="email">{local}{at}<wbr>{domain}</td>\n'
            f'  <td>{department}</td>\n'
            f'  <td>{job_title}</td>\n'
            f'  <td class="nowrap">{hire_date}</td>\n'
            f'  <td>{badge}</td>\n'
            f'</tr>\n')
        cards.append(
            f'<li>\n'
            f'  <h2><a href="{href}">{name}</a></h2>\n'
            f'  <dl>\n'
            f'    <div><dt>ID</dt><dd>{employee_id}</dd></div>\n'
            f'    <div><dt>Department</dt><dd>{department or "—"}</dd></div>\n'
            f'    <div><dt>Status</dt><dd>{badge}</dd></div>\n'
            f'  </dl>\n'
            f'</li>\n')
    return Markup("".join(table)), Markup("".join(cards))
