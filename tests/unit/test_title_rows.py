"""A title above a file's header ("Staff list, March 2026"): how many rows
mapping.title_rows skips, and when it skips none."""
import pytest

from employee_app.services.importer.mapping import MAX_TITLE_ROWS, title_rows

HEADER = ["Employee ID", "First name", "Last name", "E-mail"]
ROW = ["E1", "Ada", "Lovelace", "ada@example.com"]


@pytest.mark.parametrize("rows, skipped", [
    ([HEADER, ROW], 0),  # the header first: nothing to skip
    ([["Staff list, March 2026"], HEADER, ROW], 1),
    ([["Staff list", "March 2026"], ["Exported by OrangeHRM"], HEADER, ROW], 2),
    ([["", "Staff list, March 2026", ""], HEADER, ROW], 1),  # a title in a merged cell's second column
    ([["Staff list"], HEADER], 1),  # a header and no rows: still its header
    ([ROW, ROW], 0),  # no header at all: the mapping page asks
    ([["E1", "Ada Lovelace", "ada@example.com"], HEADER], 0),  # three cells filled: a data row, not a title
    ([["Staff list"], ["Name", "Someone"], ROW], 0),  # one field named ("Name") is not enough for a header
    ([["Staff list"]] * MAX_TITLE_ROWS + [HEADER, ROW], MAX_TITLE_ROWS),
    ([["Staff list"]] * (MAX_TITLE_ROWS + 1) + [HEADER, ROW], 0),  # too far down to be sure it is the header
    ([], 0),
])
def test_title_rows(rows, skipped):
    assert title_rows(rows) == skipped


@pytest.mark.parametrize("title", ["\x00", "\u200b\u202e", "x" * 32_767, "Ｓｔａｆｆ ｌｉｓｔ"])
def test_a_hostile_title_is_still_one_cell_of_title(title):
    assert title_rows([[title], HEADER, ROW]) == 1


def test_a_header_hidden_behind_look_alike_characters_is_not_a_header():
    """Cyrillic 'е' in every name: the row names no field, so nothing is skipped."""
    look_alike = [cell.replace("e", "\u0435") for cell in HEADER]
    assert title_rows([["Staff list"], look_alike, ROW]) == 0
