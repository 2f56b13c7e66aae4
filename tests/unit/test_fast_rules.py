"""The import's fast paths give what the rules give, for any text.

employee_rules.clean_employee and mapping.mapped_record are built for speed
(fast paths for plain values, remembered outcomes, code built from
FIELD_RULES and from the mapping); clean_employee_by_rules and
_mapped_record_by_cell are the same rules taken one field, one cell at a
time. Property tests (Hypothesis, derandomized: the same examples every
run) hold each to its reference on arbitrary text, with the characters that
make text hostile mixed in: invisible and direction characters, NUL and
other controls, combining marks, full-width and look-alike letters, values
that grow or shrink when normalised, every kind of whitespace."""
from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from employee_app.services import employee_rules, text_rules
from employee_app.services.employee_rules import (
    FIELD_NAMES, FIELD_RULES, clean_employee, clean_employee_by_rules, latest_date,
)
from employee_app.services.errors import InvalidInput
from employee_app.services.importer import mapping as mapping_module
from employee_app.services.importer.mapping import IGNORE, TARGETS, _mapped_record_by_cell, mapped_record

PROPERTY = settings(max_examples=400, derandomize=True, database=None, deadline=None)

# The characters that make text hostile, each on its own and in company.
HOSTILE = [
    "\u200b", "\u200c", "\u200d", "\u00ad", "\u200e", "\u200f", "\u202e", "\u2066", "\ufeff", "\u2060",  # invisible
    "\u3164", "\u115f", "\uffa0", "\u034f", "\ufe0f", "\u180b",  # invisible, yet letters or marks: "printable"
    "\x00", "\x01", "\t", "\n", "\r", "\x0b", "\x0c", "\x1c", "\x1f", "\x7f", "\x85", "\x9b",  # controls
    "\u2028", "\u2029", "\ufffd", "\ud800",  # separators, the lost character, a lone surrogate
    "\u0301", "\u0307", "\u0308", "\u20dd",  # combining marks
    "\uff21", "\uff45", "\uff11", "\uff0d", "\uff0e", "\uff3f", "\uff20", "\u3000",  # full-width
    "\u0430", "\u0435", "\u03b1", "\u0406", "\u0131", "\u0130", "\u017f", "\u00df", "\u212a",  # look-alikes
    "\ufb03", "\u2474", "\u00bd", "\U0001d160", "\u0344", "\u1e9e",  # grow or change when normalised
    "\u00a0", "\u2003", " ", "  ",  # spaces
    "'", "=", "+", "-", "@", ".", "_", ",", "/", "(", ")", "x",  # meaningful punctuation
    "渡辺", "иван", "Zoë", "مهدی", "한", "カ",
]
PLAINISH = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=12)


def hostile_text(max_size: int = 40) -> st.SearchStrategy[str]:
    """Arbitrary text, mostly plain ASCII, with hostile characters mixed in."""
    piece = st.one_of(PLAINISH, st.sampled_from(HOSTILE), st.text(max_size=4))
    return st.lists(piece, max_size=max_size // 4 + 1).map("".join)


def shaped(field: str) -> st.SearchStrategy[str]:
    """Values shaped like the field's own, plain or nearly."""
    letters = st.text(alphabet="AbcXyz09", min_size=1, max_size=10)
    if field == "employee_id":
        return st.builds(lambda a, sep, b: a + sep + b, letters, st.sampled_from(["", "-", ".", "_", "--", " "]),
                         letters)
    if field == "email":
        return st.builds(lambda a, b, c: f"{a}@{b}.{c}", letters, letters,
                         st.sampled_from(["com", "c", "", "co.", "x y"]))
    if field == "phone":
        return st.text(alphabet="0123456789+()./ xX-", min_size=1, max_size=44)
    if field in ("hire_date", "termination_date"):
        return st.one_of(st.dates(min_value=date(1850, 1, 1), max_value=date(2200, 1, 1)).map(date.isoformat),
                         st.builds("{:04d}-{:02d}-{:02d}".format, st.integers(0, 9999), st.integers(0, 99),
                                   st.integers(0, 99)))
    if field in ("status", "employment_type"):
        rule = employee_rules.RULES_BY_NAME[field]
        return st.sampled_from([*rule.choices, "On leave", "Full-time", "part time", " active ", "ACTIVE", "retired"])
    if field in ("department", "job_title"):
        return st.sampled_from(["Engineering", "Field  Ops", " Sales ", "R&D", "Ops\u200b", "X" * 100, "X" * 101])
    return st.text(alphabet="AdaLovelce' -.", min_size=1, max_size=30).map(lambda name: name * 4)


def field_value(field: str) -> st.SearchStrategy:
    limit = employee_rules.RULES_BY_NAME[field].max_length or employee_rules.NO_LIMIT_FIELD_LENGTH
    return st.one_of(
        st.none(), st.just(""), shaped(field), hostile_text(),
        st.builds(lambda value, hostile, at: value[:at] + hostile + value[at:], shaped(field),
                  st.sampled_from(HOSTILE), st.integers(0, 40)),
        st.sampled_from(["x" * limit, "x" * (limit + 1), "\uff58" * limit, "\ufb03" * limit, " " * 3 + "y" * limit]),
        st.sampled_from([0, 12, date(2020, 2, 29)]),  # not text: a snapshot's values in a bulk edit
    )


RECORDS = st.fixed_dictionaries({}, optional={field: field_value(field) for field in FIELD_NAMES})


def outcome(clean, raw: dict):
    """("ok", the values) or ("invalid", the messages, in order)."""
    try:
        return "ok", clean(dict(raw))
    except InvalidInput as refused:
        return "invalid", list(refused.errors.items())


@PROPERTY
@given(st.one_of(hostile_text(), st.text()))
def test_text_kept_as_is_is_what_free_text_keeps(value):
    if text_rules.kept_as_is(value):
        assert text_rules.free_text(value) == value


@pytest.mark.parametrize("value, kept", [
    ("Zoë", True), ("渡辺", True), ("José María", True), ("Zoe\u0308", False), ("A\u200bda", False),
    ("مهدی\u200cزاده", False), ("Ada\u202e", False), ("Ada\ufffd", False), ("Ada\u2028", False), ("Ada\x85", False),
    ("\ud800", False), ("Ada\u034f", False), ("\u3164", False), ("Ａｄａ", True),
])
def test_kept_as_is_says_no_to_whatever_free_text_changes_or_refuses(value, kept):
    assert text_rules.kept_as_is(value) is kept


@PROPERTY
@given(RECORDS)
def test_clean_employee_gives_what_the_rules_give(raw):
    expected = outcome(clean_employee_by_rules, raw)
    assert outcome(clean_employee, raw) == expected
    assert outcome(clean_employee, raw) == expected  # again, from the memos


@pytest.mark.parametrize("field", FIELD_NAMES)
def test_each_field_gives_what_its_rule_gives(field):
    base = {"employee_id": "E1", "first_name": "Ada", "last_name": "Lovelace"}

    @PROPERTY
    @given(field_value(field))
    def check(value):
        raw = {**base, field: value}
        expected = outcome(clean_employee_by_rules, raw)
        assert outcome(clean_employee, raw) == expected
        assert outcome(clean_employee, raw) == expected

    check()


HOSTILE_VALUES = [
    "ada\u200b", "\ufeffE1", "E\u200d1", "ａｄａ@example.com", "ada@example.com\x00", "Ada\u202eecalevol",
    "\u0430da@example.com", "ada\u0307@example.com", "\u0130" * 30, "ß1", "ſ9", "Ｅ" * 32, "Ｅ" * 33,
    "\ufb03" * 40, "\U0001d160" * 40, "Zoe\u0308", "مهدی\u200cزاده", "２０２４-０１-０１", "2024-02-30",
    "2024-01-01\x00", "1850-01-01", "0000-01-01", "9999-12-31", "On leave", "Full-time", " active ",
    "Field  Ops", "Ops\u00a0Team", "+1 (555) 010-0000 x12", "call me", "-E1", "E1.", "e1042", "\t E1 \n",
    "a\x1cb", "\x1fE1", "E1\x1f", "\u3000E1", "x" * 255, "\u200b" * 1000,
]


@pytest.mark.parametrize("field", FIELD_NAMES)
def test_hostile_values_are_refused_or_kept_as_the_rules_say(field):
    for value in [*HOSTILE_VALUES, *HOSTILE]:
        raw = {"employee_id": "E1", "first_name": "Ada", "last_name": "Lovelace", field: value}
        expected = outcome(clean_employee_by_rules, raw)
        assert outcome(clean_employee, raw) == expected, value
        assert outcome(clean_employee, raw) == expected, value


def test_plain_values_take_the_fast_path_and_keep_their_messages():
    raw = {"employee_id": "e0042", "first_name": " Ada ", "last_name": "Lovelace", "email": "Ada@Example.COM",
           "phone": "+44 20 7946 0000", "department": "Engineering", "job_title": "Analyst",
           "employment_type": "Full-time", "location": "London", "hire_date": "2020-02-29", "status": "On leave"}
    assert clean_employee(raw) == clean_employee_by_rules(raw) == {
        "employee_id": "E0042", "first_name": "Ada", "last_name": "Lovelace", "email": "ada@example.com",
        "phone": "+44 20 7946 0000", "department": "Engineering", "job_title": "Analyst",
        "employment_type": "full_time", "location": "London", "hire_date": date(2020, 2, 29),
        "status": "on_leave", "termination_date": None}
    for _ in range(2):  # the second time from the memos
        with pytest.raises(InvalidInput) as refused:
            clean_employee({**raw, "hire_date": "2023-02-29", "status": "retired", "first_name": ""})
        assert refused.value.errors == {
            "first_name": "First name is required.",
            "hire_date": "Hire date 2023-02-29 is not a date: February 2023 has 28 days.",
            "status": "Status must be one of: active, on leave, terminated."}


def test_an_out_of_range_date_is_never_remembered():
    """"Out of range" depends on the day (latest_date); the other outcomes do not."""
    too_late = date.fromordinal(latest_date().toordinal() + 1).isoformat()
    for _ in range(2):
        with pytest.raises(InvalidInput) as refused:
            clean_employee({"employee_id": "E1", "first_name": "A", "last_name": "B", "hire_date": too_late})
        assert refused.value.errors["hire_date"].startswith(f"Hire date {too_late} is out of range")
    assert too_late not in employee_rules._REFUSED["hire_date"]
    assert too_late not in employee_rules._ACCEPTED["hire_date"]
    assert clean_employee({"employee_id": "E1", "first_name": "A", "last_name": "B",
                           "termination_date": latest_date().isoformat()})["termination_date"] == latest_date()
    assert employee_rules._ACCEPTED["termination_date"][latest_date().isoformat()] == latest_date()


def test_the_memos_stay_bounded(monkeypatch):
    monkeypatch.setattr(employee_rules, "MEMO_ENTRIES", 10)
    employee_rules._ACCEPTED["hire_date"].clear()
    for day in range(1, 29):
        value = f"2020-02-{day:02d}"
        assert clean_employee({"employee_id": "E1", "first_name": "A", "last_name": "B",
                               "hire_date": value})["hire_date"] == date(2020, 2, day)
        assert len(employee_rules._ACCEPTED["hire_date"]) <= 10


def test_clean_employee_is_built_from_every_rule():
    source = employee_rules.CLEAN_EMPLOYEE_SOURCE
    assert all(f"get({rule.name!r})" in source for rule in FIELD_RULES)
    with pytest.raises(InvalidInput) as refused:  # a required field's message, from the built code
        clean_employee({})
    assert list(refused.value.errors) == ["employee_id", "first_name", "last_name"]


# --- mapped_record ----------------------------------------------------------------

CELL = st.one_of(
    hostile_text(24),
    st.sampled_from(["", " ", "E1", " e1 ", "Ada Lovelace", "Lovelace, Ada", "Ada", "2024-02-13", "13/02/2024",
                     "02/13/2024", "03/04/2024", "13.02.24", "2024/2/3", "2021-07-27T16:02:08Z", "2024-02-30", "a\rb",
                     "'=1+1", "'+44", "'-3", "'@x", "''", "'x", "O'Brien", "a\nb", "a\r\nb", " x\x1f", "\x1f'=1",
                     "D1", " d-7 ", "Ｄ１", "D\u200b1", "D\u0430", "x" * 33]),
)
MAPPINGS = st.lists(st.sampled_from([*TARGETS, IGNORE, IGNORE]), max_size=8)


def mapped(read, cells, mapping):
    raw, errors = read(cells, mapping)
    return raw, list(errors.items())  # the first error names the rejection's field: order counts


@PROPERTY
@given(st.lists(CELL, max_size=10), MAPPINGS)
def test_mapped_record_gives_what_reading_cell_by_cell_gives(cells, mapping):
    assert mapped(mapped_record, cells, mapping) == mapped(_mapped_record_by_cell, cells, mapping)


@PROPERTY
@given(st.lists(st.lists(CELL, max_size=9), min_size=1, max_size=5),
       st.sampled_from([
           ["employee_id", "first_name", "last_name", "email", "department", "job_title", "hire_date", "status"],
           ["employee_id", "ignore", "full_name", "hire_date", "department_code", "job_code", "termination_date"],
           ["full_name_last_first", "employee_id", "ignore", "email"],
           ["ignore", "employee_id", "first_name", "full_name"],  # the columns' order decides: cell by cell
       ]))
def test_a_file_mapped_row_after_row_gives_what_cell_by_cell_gives(rows, mapping):
    for cells in rows:  # short rows, long rows, line breaks, formula-safe cells, one mapping
        assert mapped(mapped_record, cells, mapping) == mapped(_mapped_record_by_cell, cells, mapping)


def test_a_mapping_changed_in_place_is_read_anew():
    mapping = ["employee_id", "first_name"]
    assert mapped_record(["E1", "Ada"], mapping)[0] == {"employee_id": "E1", "first_name": "Ada"}
    mapping[1] = "last_name"
    assert mapped_record(["E1", "Ada"], mapping)[0] == {"employee_id": "E1", "last_name": "Ada"}


def test_date_cells_are_read_once_and_remembered():
    mapping = ["employee_id", "hire_date"]
    for _ in range(2):
        assert mapped_record(["E1", "13/02/2024"], mapping) == ({"employee_id": "E1", "hire_date": "2024-02-13"}, {})
        assert mapped_record(["E1", "03/04/2024"], mapping) == (
            {"employee_id": "E1", "hire_date": "03/04/2024"},
            {"hire_date": "Hire date 03/04/2024 is ambiguous (day/month or month/day?): use YYYY-MM-DD."})
    assert mapping_module._DATE_TEXTS["13/02/2024"] == ("2024-02-13", None)


@pytest.mark.parametrize("mapping, cell, message", [
    (["employee_id", "full_name"], "", "Full name (First Last) is empty: every employee needs a first and a last name."),
    (["employee_id", "full_name"], "Madonna", "Full name (First Last) Madonna is one word: write the first and the "
                                              "last name, e.g. Ada Lovelace."),
    (["employee_id", "full_name_last_first"], "Lovelace Ada", "Full name (Last, First) Lovelace Ada needs a comma "
                                                              "between the last and the first name, e.g. Lovelace, Ada."),
    (["employee_id", "full_name_last_first"], ", Ada", "Full name (Last, First) , Ada needs a comma"),
    (["employee_id", "full_name"], "Ada\x00", "Full name (First Last) Ada\x00 is one word"),
    (["employee_id", "full_name"], "\u200b" * 3, "Full name (First Last) \u200b\u200b\u200b is one word"),
    (["employee_id", "full_name"], "x" * 100_000, "Full name (First Last) " + "x" * 40 + "… is one word"),
])
def test_a_full_name_cell_without_both_names_says_so_of_the_cell(mapping, cell, message):
    """Not "First name is required. Last name is required.": the file has no
    such columns. Hostile cells are quoted cut short (the rules refuse them
    on their own when the names are there)."""
    for read in (mapped_record, _mapped_record_by_cell):
        raw, errors = read(["E1", cell], mapping)
        assert list(errors) == [mapping[1]] and errors[mapping[1]].startswith(message), (read, errors)
    assert mapped_record(["E1", "Ada Lovelace"], ["employee_id", "full_name"])[1] == {}
    assert mapped_record(["E1"], ["employee_id", "full_name"])[1] == {}  # a short row: "required" says it


def test_a_name_column_after_a_full_name_can_still_give_the_missing_name():
    raw, errors = mapped_record(["E1", "Madonna", "M"], ["employee_id", "full_name", "first_name"])
    assert (raw["first_name"], raw["last_name"], errors) == ("M", "Madonna", {})
