"""bench/list_bench.py's fair baseline renders the app's own layout with a
stand-in for each endpoint the layout links to. A menu link added to
templates/base.html without its stand-in broke the benchmark (a BuildError
on every baseline request), so the two are compared here."""
import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_bare_layout_page_stands_in_for_every_endpoint_base_html_links_to():
    bench = (ROOT / "bench" / "list_bench.py").read_text(encoding="utf-8")
    found = re.search(r"^ENDPOINTS = (\{.*?\})$", bench, re.MULTILINE | re.DOTALL)
    assert found, "list_bench.py's baseline no longer lists its ENDPOINTS"
    stand_ins = set(ast.literal_eval(found.group(1)))
    layout = (ROOT / "templates" / "base.html").read_text(encoding="utf-8")
    linked = set(re.findall(r"url_for\('([\w.]+)'", layout)) - {"static"}
    assert linked, "no url_for() found in base.html"
    assert linked <= stand_ins, f"add to list_bench.py's ENDPOINTS: {sorted(linked - stand_ins)}"
