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


def test_the_bare_layout_page_renders_the_layout_with_its_rows(app, database_url, pg, tmp_path, monkeypatch):
    """The baseline served for real (Flask's test client, the test database):
    base.html calling a helper the stand-in lacks (role_label, for the account
    menu) made every baseline request a 500, and the benchmark stopped."""
    import importlib.util

    from bench import list_bench

    pg.execute("INSERT INTO employees (employee_id, first_name, last_name) VALUES ('E1', 'Ada', 'Lovelace')")
    (tmp_path / "bare_layout_app.py").write_text(list_bench.BARE_LAYOUT_APP)
    (tmp_path / "bare_list.html").write_text(list_bench.BARE_LAYOUT_TEMPLATE)
    monkeypatch.setenv("BARE_ROOT", str(ROOT))
    monkeypatch.setenv("BARE_DATABASE_URL", database_url)
    monkeypatch.setenv("BARE_LAST_NAMES", "A")
    spec = importlib.util.spec_from_file_location("bare_layout_app", tmp_path / "bare_layout_app.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    page = module.app.test_client().get("/bare")
    assert page.status_code == 200, page.text[-500:]
    html = page.get_data(as_text=True)
    assert "Employee records" in html and "Administrator" in html and "Lovelace, Ada" in html
