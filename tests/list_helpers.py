"""The departments and jobs lists over HTTP, as their pages send them."""
import re
from html import unescape

from .helpers import HttpClient, csrf_token

COUNT_RE = re.compile(r'<dd id="count-(\w+)">([\d,]+)</dd>')
REFUSED_RE = re.compile(r"<tr>\s*<td>(\d+)</td><td>(.*?)</td><td>(.*?)</td><td class=\"reason\">(.*?)</td>", re.S)


def add_entry(client: HttpClient, kind: str, name: str, code: str = ""):
    """The list page's add form."""
    return client.submit(f"/{kind}", {"name": name, "code": code})


def upload_list(client: HttpClient, kind: str, content: bytes, filename: str = "list.csv"):
    """The list page's Upload a list form; the response is the report (or the refusal)."""
    page = client.get(f"/{kind}")
    assert page.status_code == 200, page.status_code
    return client.post(f"/{kind}/upload", {"csrf_token": csrf_token(page.text)}, files={"file": (filename, content)})


def report_counts(page: str) -> dict[str, int]:
    """The upload report's figures: added, renamed, unchanged, refused (and coded when any)."""
    return {name: int(value.replace(",", "")) for name, value in COUNT_RE.findall(page)}


def refused_rows(page: str) -> dict[int, str]:
    """The upload report's refused rows: row number -> reason."""
    section = page[page.index('id="refused-rows"'):] if 'id="refused-rows"' in page else ""
    section = section[:section.index("</table>")] if section else ""
    return {int(number): unescape(reason) for number, _code, _name, reason in REFUSED_RE.findall(section)}
