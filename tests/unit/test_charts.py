"""The server-drawn charts' words (employee_app/charts.py)."""
from datetime import date
from types import SimpleNamespace

import pytest

from employee_app.charts import month_chart


@pytest.mark.parametrize("hires, leavers, words", [
    ((3, 12, 0), (1, 0, 3), "the tallest bar up is 12 hires in a month, the longest down 3 leavers"),
    ((1, 0), (0, 0), "the tallest bar is 1 hire in a month"),
    ((0, 0), (0, 1), "the longest bar is 1 leaver in a month"),
    ((0, 0), (0, 0), ""),  # nothing to scale: no caption
    ((1500,), (0,), "the tallest bar is 1,500 hires in a month"),
])
def test_the_month_charts_scale_is_said_in_words(hires, leavers, words):
    """One leaver fills the chart's height as well as a thousand would: the
    caption says which it is."""
    months = [SimpleNamespace(month=date(2026, number + 1, 1), hires=h, leavers=left)
              for number, (h, left) in enumerate(zip(hires, leavers))]
    assert month_chart("Hires and leavers", months).scale == words
