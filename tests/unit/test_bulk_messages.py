"""What a refused bulk change says: every record it cannot apply to, up to
REFUSED_SHOWN of them, then how many more."""
from employee_app.services.employees import REFUSED_SHOWN, _refused_records


def test_one_refused_record_is_said_alone():
    assert _refused_records(["E1: Termination date is before the hire date."]) \
        == "E1: Termination date is before the hire date."


def test_many_are_counted_and_the_first_few_named():
    refused = [f"E{n}: Status is active, but the termination date 2025-01-31 has passed." for n in range(1, 8)]
    said = _refused_records(refused)
    assert said.startswith("7 of the selected cannot take it. E1: ")
    assert [f"E{n}:" in said for n in range(1, 8)] == [True] * REFUSED_SHOWN + [False] * (7 - REFUSED_SHOWN)
    assert said.endswith(f" And {7 - REFUSED_SHOWN} more.")
