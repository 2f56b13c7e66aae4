"""Charts drawn on the server as SVG, from a report's aggregated rows:
this module places the shapes, templates/_macros/charts.html draws them.

The CSP allows no script and no style attribute, so a chart is markup
alone: positions are SVG attributes, colours come from app.css by class
(`series-<key>`). Across, positions are percentages of the chart's width;
down, pixels: a chart fills a phone (390 px) or a laptop screen and its
text keeps its size. Every chart has its table beside it, with the exact
figures, for screen readers too.
"""
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

# A bar chart's row: its label's line, then the bar.
ROW_HEIGHT = 46
LABEL_BASELINE = 15
BAR_TOP, BAR_HEIGHT = 22, 16
LABEL_CHARS = 32  # longer labels are cut (the table beside has them whole)
# The month chart: hires rise above the axis, leavers hang below it.
PLOT_TOP, PLOT_HEIGHT = 8, 200
TICK_BASELINE, YEAR_BASELINE = 228, 246  # the month's name, and under it the year at its start
MONTH_CHART_HEIGHT = 252


@dataclass(frozen=True)
class Series:
    key: str  # its colour: class series-<key>
    label: str


@dataclass(frozen=True)
class Segment:
    series: Series
    x: str  # "12.5": percent of the width
    width: str
    value: int


@dataclass(frozen=True)
class Bar:
    label: str
    total: int
    top: int  # px: its row's top
    segments: list[Segment]

    @property
    def label_baseline(self) -> int:
        return self.top + LABEL_BASELINE

    @property
    def bar_top(self) -> int:
        return self.top + BAR_TOP


@dataclass(frozen=True)
class BarChart:
    """One bar per row, its parts (series) side by side on it, all bars on
    one scale: the largest total is the full width."""
    title: str
    series: list[Series]
    bars: list[Bar]
    bar_height: int = BAR_HEIGHT

    @property
    def height(self) -> int:
        return len(self.bars) * ROW_HEIGHT


def percent(value: float) -> str:
    return f"{value:.3f}".rstrip("0").rstrip(".")


def short_label(label: str) -> str:
    return label if len(label) <= LABEL_CHARS else label[:LABEL_CHARS - 1].rstrip() + "…"


def bar_chart(title: str, series: Sequence[Series], rows: Sequence[tuple[str, Sequence[int]]]) -> BarChart:
    """rows: (label, one value per series). The legend names the series
    that have a value somewhere."""
    largest = max((sum(values) for _, values in rows), default=0) or 1
    bars = []
    for number, (label, values) in enumerate(rows):
        segments, start = [], 0
        for part, value in zip(series, values):
            if value > 0:
                segments.append(Segment(part, percent(100 * start / largest), percent(100 * value / largest), value))
            start += max(value, 0)
        bars.append(Bar(short_label(label), sum(values), number * ROW_HEIGHT, segments))
    shown = [part for number, part in enumerate(series) if any(values[number] for _, values in rows)]
    return BarChart(title, shown, bars)


@dataclass(frozen=True)
class MonthColumn:
    month: date
    hires: int
    leavers: int
    x: str  # percent: the left of the column's bar
    width: str
    top: str  # px: the top of the hires bar, which rises to the axis
    up: str  # its height
    down: str  # the height of the leavers bar, which hangs from the axis
    tick: str  # "Jan": under the axis
    year: str  # "2026" under that, at a year's start (and on the first column)
    quarter_start: bool  # a phone has room for these months' ticks only


@dataclass(frozen=True)
class MonthChart:
    title: str
    columns: list[MonthColumn]
    axis: str  # px from the top
    most_hires: int = 0  # the scale, in words under the chart: the tallest bar up...
    most_leavers: int = 0  # ...and the longest down
    height: int = MONTH_CHART_HEIGHT
    tick_baseline: int = TICK_BASELINE
    year_baseline: int = YEAR_BASELINE
    series: tuple[Series, Series] = (Series("hires", "Hires"), Series("leavers", "Leavers"))

    @property
    def scale(self) -> str:
        """The scale in words (the bars have no axis of numbers): "the
        tallest bar up is 12 hires in a month, the longest down 3 leavers"."""
        up = f"{self.most_hires:,} hire{'' if self.most_hires == 1 else 's'}"
        down = f"{self.most_leavers:,} leaver{'' if self.most_leavers == 1 else 's'}"
        if self.most_hires and self.most_leavers:
            return f"the tallest bar up is {up} in a month, the longest down {down}"
        if self.most_hires:
            return f"the tallest bar is {up} in a month"
        return f"the longest bar is {down} in a month" if self.most_leavers else ""


def month_chart(title: str, months: Sequence) -> MonthChart:
    """months: rows with .month (a first day), .hires and .leavers, oldest
    first. Hires and leavers share one scale."""
    most_hires = max((m.hires for m in months), default=0)
    most_leavers = max((m.leavers for m in months), default=0)
    scale = PLOT_HEIGHT / (most_hires + most_leavers) if most_hires + most_leavers else 0
    axis = PLOT_TOP + (most_hires * scale if scale else PLOT_HEIGHT / 2)
    slot = 100 / max(len(months), 1)
    columns = [MonthColumn(
        month=m.month, hires=m.hires, leavers=m.leavers,
        x=percent(slot * (number + 0.15)), width=percent(slot * 0.7),
        top=percent(axis - max(m.hires, 0) * scale), up=percent(max(m.hires, 0) * scale),
        down=percent(max(m.leavers, 0) * scale),
        # The first column's year too, unless a January follows too closely for both.
        tick=m.month.strftime("%b"), year=str(m.month.year) if m.month.month == 1 or (number == 0 and m.month.month <= 10)
        else "",
        quarter_start=m.month.month % 3 == 1,
    ) for number, m in enumerate(months)]
    return MonthChart(title, columns, percent(axis), most_hires, most_leavers)


# --- the reports' charts -------------------------------------------------------

STATUS_SERIES = (Series("active", "Active"), Series("on_leave", "On leave"), Series("left_since", "Left since"))
QUARTER_SERIES = tuple(Series(f"q{number}", f"Q{number}") for number in range(1, 5))


def headcount_chart(report) -> BarChart:
    """services.reports.Headcount: each department's people by status."""
    return bar_chart(f"Headcount by department on {report.day}", STATUS_SERIES,
                     [(row.department, (row.active, row.on_leave, row.left_since)) for row in report.rows])


def quarters_chart(report) -> BarChart:
    """services.reports.HiresByQuarter: each department's hires by quarter."""
    return bar_chart(f"Hires by department and quarter, {report.year}", QUARTER_SERIES,
                     [(row.department, row.quarters) for row in report.departments])


def months_chart(months) -> MonthChart:
    """services.reports.MonthRow list."""
    first, last = months[0].month, months[-1].month
    return month_chart(f"Hires and leavers by month, {first:%B %Y} to {last:%B %Y}", months)
