"""Reports on the employee records, and the home page's figures.

Every figure is a SQL aggregate over two summary tables that triggers on
employees keep right in the transaction of each change (migration
0009_report_summaries): headcount_changes (hires, leavers and undated
leavers per year, month and day, department and status) and
hires_by_quarter (per year, department and job). Reading a million
employees for each report would cost 100 ms and more; these cost a few.

A trigger only appends rows, so a key (say: Sales, active, 2024-05-17) can
have several; every query sums them. compact_summaries() merges each key's
rows into one: at the end of an import, and before a report is read when
anything is waiting (usually the few rows of the last edits).

Figures are kept in memory per report_state.generation (cached()). Only a
merge bumps it; a change to employees appends summary rows, a change to the
departments or jobs lists or a TRUNCATE of employees a report_changes row,
and whatever waits is merged, bumping it, before the next report is read. A report page then costs one
small query and its rendering, however large the company.

What a headcount on a date counts: the employees hired on or before it and
not terminated before it (someone whose last day is that date still
counts). Its status columns are today's statuses (the records keep no
history of leave), except that someone terminated since counts as employed
then ("left since"). Left out: employees without a hire date, and those
terminated without a termination date (nothing says when they left).
"""
from dataclasses import dataclass
from datetime import date

from flask import g, has_request_context
from sqlalchemy import text

from ..extensions import db
from .spreadsheet import BOM, csv_text

MONTHS_SHOWN = 24
ROWS_PER_PAGE = 100
# pg_try_advisory_xact_lock(class, id): one merge of the summaries at a time.
MERGE_LOCK = (7_004, 1)  # (7_002 is the lists' class: a jobs change would hold this one)
NO_DEPARTMENT = "No department"
FIGURES_KEPT = 128  # per process: a year's CSV is ~100 KB, so a few MB at most


# --- keeping the summaries small -----------------------------------------------

@dataclass(frozen=True)
class Summary:
    table: str
    keys: tuple[str, ...]
    values: tuple[str, ...]

    @property
    def merge_sql(self) -> str:
        """Replace the rows of every key that has unmerged ones by their sum
        (dropped when it is zero). Rows appended meanwhile are not seen by
        the statement's snapshot and wait for the next merge."""
        keys, values = ", ".join(self.keys), ", ".join(self.values)
        sums = ", ".join(f"sum({value})" for value in self.values)
        return f"""
            WITH pending AS (SELECT DISTINCT {keys} FROM {self.table} WHERE NOT merged),
            taken AS (
                DELETE FROM {self.table} t USING pending p
                WHERE ({", ".join(f"t.{key}" for key in self.keys)}) = ({", ".join(f"p.{key}" for key in self.keys)})
                RETURNING t.*)
            INSERT INTO {self.table} ({keys}, {values}, merged)
            SELECT {keys}, {sums}, true FROM taken GROUP BY {keys}
            HAVING ({sums}) <> ({", ".join("0" for _ in self.values)})
            ORDER BY {keys}"""


SUMMARIES = (
    Summary("headcount_changes", ("grain", "period", "department_id", "status"),
            ("hires", "leavers", "undated_leavers")),
    Summary("hires_by_quarter", ("year", "department_id", "job_id"), ("q1", "q2", "q3", "q4")),
)


def compact_summaries() -> bool:
    """Merge the summaries' unmerged rows and commit, bumping the report
    generation. False (nothing done) when another merge is running: its rows
    are merged by the next one.

    Writers only ever append, so this waits for no lock but its own."""
    if not db.session.execute(text("SELECT pg_try_advisory_xact_lock(:a, :b)"),
                              dict(zip("ab", MERGE_LOCK))).scalar_one():
        db.session.rollback()
        return False
    for summary in SUMMARIES:
        db.session.execute(text(summary.merge_sql))
    # List changes and TRUNCATEs noted by triggers (rows appended meanwhile
    # stay for the next merge); only a merge writes the generation.
    db.session.execute(text("DELETE FROM report_changes"))
    db.session.execute(text("UPDATE report_state SET generation = generation + 1"))
    db.session.commit()
    return True


# One query per report request: are rows waiting for a merge, the
# generation, and the two figures no summary holds.
STATE_SQL = (
    "SELECT " + " OR ".join(f"EXISTS (SELECT 1 FROM {s.table} WHERE NOT merged)" for s in SUMMARIES)
    + " OR EXISTS (SELECT 1 FROM report_changes) AS waiting, (SELECT generation FROM report_state) AS generation,"
    " (SELECT count(*) FROM employees WHERE hire_date IS NULL) AS no_hire_date,"
    " EXISTS (SELECT 1 FROM employees) AS anyone")


@dataclass(frozen=True)
class ReportState:
    generation: int | None  # None: figures are read afresh (rows wait for another process's merge)
    no_hire_date: int  # employees without a hire date: counted from ix_employees_no_hire_date
    anyone: bool  # False in an empty app


def compact_if_waiting() -> ReportState:
    """Before a report is read: merge what the last changes appended (a
    probe of two small partial indexes when nothing waits), and note in
    flask.g the generation the request's figures belong to. When rows wait
    and another process is merging them, the request reads the tables
    afresh."""
    state = db.session.execute(text(STATE_SQL)).one()
    generation = state.generation
    if state.waiting:
        generation = db.session.execute(text("SELECT generation FROM report_state")).scalar_one() \
            if compact_summaries() else None
    g.report_state = ReportState(generation, state.no_hire_date, state.anyone)
    return g.report_state


def report_state() -> ReportState:
    """This request's state (compact_if_waiting), read now if not yet."""
    if has_request_context() and "report_state" in g:
        return g.report_state
    return compact_if_waiting() if has_request_context() else ReportState(None, *db.session.execute(
        text("SELECT (SELECT count(*) FROM employees WHERE hire_date IS NULL), EXISTS (SELECT 1 FROM employees)"))
        .one())


_figures: dict = {}


def cached(compute, *args):
    """compute(*args), kept in this process for the request's generation
    (compact_if_waiting). Outside a report request, or while rows wait for
    another process's merge, always computed."""
    generation = report_state().generation
    if generation is None:
        return compute(*args)
    key = (compute.__name__, args, generation)
    try:
        return _figures[key]
    except KeyError:
        pass
    value = compute(*args)
    if len(_figures) >= FIGURES_KEPT:
        _figures.clear()  # old generations and rare years; recomputing is cheap
    _figures[key] = value
    return value


# --- shared pieces ----------------------------------------------------------------

def years_with_hires() -> list[int]:
    """Every year in which someone was hired, latest first."""
    return cached(_years_with_hires)


def _years_with_hires() -> list[int]:
    return list(db.session.execute(text(
        "SELECT extract(year FROM period)::int FROM headcount_changes WHERE grain = 'year'"
        " GROUP BY period HAVING sum(hires) > 0 ORDER BY period DESC")).scalars())


def without_hire_date() -> int:
    """Employees without a hire date (not kept per generation: no summary
    row changes when one is added)."""
    return report_state().no_hire_date


def quarter_start(day: date) -> date:
    return day.replace(month=(day.month - 1) // 3 * 3 + 1, day=1)


def add_months(day: date, months: int) -> date:
    """The first day of the month `months` after day's month."""
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def natural_order(column: str) -> str:
    """ORDER BY terms for codes as people count them (2 before 10, as the
    employee list orders IDs), no code last."""
    return (f"{column} IS NULL, regexp_replace({column}, '[0-9]{{1,18}}$', ''),"
            f" coalesce(substring({column} FROM '[0-9]{{1,18}}$')::bigint, -1), {column}")


# --- hires by quarter ---------------------------------------------------------------

@dataclass(frozen=True)
class QuarterRow:
    department: str
    job: str | None  # None on a department's total
    q1: int
    q2: int
    q3: int
    q4: int

    @property
    def quarters(self) -> tuple[int, int, int, int]:
        return self.q1, self.q2, self.q3, self.q4

    @property
    def total(self) -> int:
        return sum(self.quarters)


@dataclass(frozen=True)
class HiresByQuarter:
    year: int
    rows: list[QuarterRow]  # this page's rows: one per department and job
    row_count: int  # on every page
    page: int
    pages: int
    departments: list[QuarterRow]  # each department's total, for the chart
    left_out: int  # hired that year without a department or a job
    no_hire_date: int

    @property
    def first_row(self) -> int:
        return (self.page - 1) * ROWS_PER_PAGE + 1


# One row per department and job with at least one hire in the year, by
# department then job, alphabetically without regard to case.
QUARTER_ROWS_SQL = """
WITH hired AS (
    SELECT department_id, job_id, sum(q1) AS q1, sum(q2) AS q2, sum(q3) AS q3, sum(q4) AS q4
    FROM hires_by_quarter WHERE year = :year AND department_id <> 0 AND job_id <> 0
    GROUP BY department_id, job_id HAVING sum(q1 + q2 + q3 + q4) > 0)
SELECT d.name AS department, j.name AS job, h.q1, h.q2, h.q3, h.q4, count(*) OVER () AS row_count
FROM hired h JOIN departments d ON d.id = h.department_id JOIN jobs j ON j.id = h.job_id
ORDER BY lower(d.name), d.id, lower(j.name), j.id
LIMIT :limit OFFSET :offset
"""

# Each department's hires in the year (with a job), by name; then, with
# department None, those hired without a department or a job.
QUARTER_DEPARTMENTS_SQL = """
SELECT d.name AS department, sum(h.q1) AS q1, sum(h.q2) AS q2, sum(h.q3) AS q3, sum(h.q4) AS q4
FROM hires_by_quarter h LEFT JOIN departments d ON d.id = h.department_id AND h.job_id <> 0
WHERE h.year = :year
GROUP BY d.id, d.name HAVING sum(h.q1 + h.q2 + h.q3 + h.q4) > 0
ORDER BY d.id IS NULL, lower(d.name), d.id
"""


def hires_by_quarter(year: int, page: int = 1) -> HiresByQuarter:
    rows, row_count, departments, left_out = cached(_quarter_figures, year, page)
    return HiresByQuarter(year=year, rows=rows, row_count=row_count, page=page,
                          pages=max(1, -(-row_count // ROWS_PER_PAGE)), departments=departments,
                          left_out=left_out, no_hire_date=without_hire_date())


def _quarter_figures(year: int, page: int) -> tuple[list[QuarterRow], int, list[QuarterRow], int]:
    page_rows = db.session.execute(text(QUARTER_ROWS_SQL), {
        "year": year, "limit": ROWS_PER_PAGE, "offset": (page - 1) * ROWS_PER_PAGE}).all()
    departments = [QuarterRow(row.department, None, row.q1, row.q2, row.q3, row.q4)
                   for row in db.session.execute(text(QUARTER_DEPARTMENTS_SQL), {"year": year})]
    left_out = departments.pop().total if departments and departments[-1].department is None else 0
    row_count = page_rows[0].row_count if page_rows else 0
    return [QuarterRow(r.department, r.job, r.q1, r.q2, r.q3, r.q4) for r in page_rows], row_count, \
        departments, left_out


def hires_by_quarter_rows(year: int) -> list[QuarterRow]:
    """Every department and job row of the year (all pages): the CSV's and the API's."""
    return cached(_hires_by_quarter_rows, year)


def _hires_by_quarter_rows(year: int) -> list[QuarterRow]:
    rows = db.session.execute(text(QUARTER_ROWS_SQL), {"year": year, "limit": None, "offset": 0})
    return [QuarterRow(r.department, r.job, r.q1, r.q2, r.q3, r.q4) for r in rows]


def hires_by_quarter_csv(year: int) -> str:
    return cached(_hires_by_quarter_csv, year)


def _hires_by_quarter_csv(year: int) -> str:
    return BOM + csv_text([["department", "job", "Q1", "Q2", "Q3", "Q4"],
                           *([r.department, r.job, *r.quarters] for r in hires_by_quarter_rows(year))])


# --- departments above the mean --------------------------------------------------------

@dataclass(frozen=True)
class DepartmentHires:
    code: str | None
    name: str
    hired: int


@dataclass(frozen=True)
class AboveMean:
    year: int
    mean: float  # hires per department in the list, those without hires counting as 0
    hired: int  # by all the departments in the list
    departments_listed: int
    rows: list[DepartmentHires]  # the departments above the mean, most hires first


ABOVE_MEAN_SQL = f"""
WITH hired AS (
    SELECT department_id, sum(hires) AS hired FROM headcount_changes
    WHERE grain = 'year' AND period = make_date(:year, 1, 1) GROUP BY department_id),
listed AS (
    SELECT d.code, d.name, coalesce(h.hired, 0) AS hired
    FROM departments d LEFT JOIN hired h ON h.department_id = d.id),
mean AS (SELECT coalesce(avg(hired), 0) AS mean, coalesce(sum(hired), 0) AS hired, count(*) AS departments
         FROM listed)
SELECT m.mean, m.hired AS hired_in_all, m.departments, l.code, l.name, l.hired
FROM mean m LEFT JOIN listed l ON l.hired > m.mean
ORDER BY l.hired DESC, {natural_order("l.code")}, l.name
"""


def departments_above_mean(year: int) -> AboveMean:
    return cached(_departments_above_mean, year)


def _departments_above_mean(year: int) -> AboveMean:
    rows = db.session.execute(text(ABOVE_MEAN_SQL), {"year": year}).all()
    return AboveMean(year=year, mean=float(rows[0].mean), hired=rows[0].hired_in_all,
                     departments_listed=rows[0].departments,
                     rows=[DepartmentHires(r.code, r.name, r.hired) for r in rows if r.name is not None])


def departments_above_mean_csv(year: int) -> str:
    return cached(_departments_above_mean_csv, year)


def _departments_above_mean_csv(year: int) -> str:
    report = departments_above_mean(year)
    return BOM + csv_text([["code", "department", "hired"],
                           *([r.code, r.name, r.hired] for r in report.rows)])


# --- headcount on a date ------------------------------------------------------------------

@dataclass(frozen=True)
class HeadcountRow:
    code: str | None
    department: str  # NO_DEPARTMENT for those without one
    active: int
    on_leave: int
    left_since: int  # employed on the date, terminated since

    @property
    def total(self) -> int:
        return self.active + self.on_leave + self.left_since


@dataclass(frozen=True)
class Headcount:
    day: date
    rows: list[HeadcountRow]  # departments with anyone employed on the day, by name
    undated_leavers: int  # hired by then, terminated without a termination date: left out
    no_hire_date: int  # left out

    @property
    def total(self) -> int:
        return sum(row.total for row in self.rows)

    @property
    def totals(self) -> HeadcountRow:
        return HeadcountRow(None, "All departments", *(sum(getattr(row, name) for row in self.rows)
                                                       for name in ("active", "on_leave", "left_since")))


# Whole years before the day's year, its months before the day's month, its
# days up to the day (leavers before it: their last day still counts).
HEADCOUNT_SQL = f"""
WITH changes AS (
    SELECT department_id, status, hires, leavers, undated_leavers FROM headcount_changes
    WHERE grain = 'year' AND period < :year_start
    UNION ALL
    SELECT department_id, status, hires, leavers, undated_leavers FROM headcount_changes
    WHERE grain = 'month' AND period >= :year_start AND period < :month_start
    UNION ALL
    SELECT department_id, status, hires, CASE WHEN period < :day THEN leavers ELSE 0 END, undated_leavers
    FROM headcount_changes WHERE grain = 'day' AND period >= :month_start AND period <= :day),
employed AS (
    SELECT department_id, status, sum(hires - undated_leavers - leavers) AS employed,
           sum(undated_leavers) AS undated
    FROM changes GROUP BY department_id, status)
SELECT d.code, coalesce(d.name, '{NO_DEPARTMENT}') AS department,
       coalesce(sum(e.employed) FILTER (WHERE e.status = 'active'), 0) AS active,
       coalesce(sum(e.employed) FILTER (WHERE e.status = 'on_leave'), 0) AS on_leave,
       coalesce(sum(e.employed) FILTER (WHERE e.status = 'terminated'), 0) AS left_since,
       sum(e.employed) AS total, sum(e.undated) AS undated
FROM employed e LEFT JOIN departments d ON d.id = e.department_id
GROUP BY d.id, d.code, d.name
ORDER BY d.id IS NULL, lower(d.name), d.id
"""


def headcount(day: date) -> Headcount:
    rows, undated_leavers = cached(_headcount_figures, day)
    return Headcount(day=day, rows=rows, undated_leavers=undated_leavers, no_hire_date=without_hire_date())


def _headcount_figures(day: date) -> tuple[list[HeadcountRow], int]:
    rows = db.session.execute(text(HEADCOUNT_SQL), {
        "day": day, "month_start": day.replace(day=1), "year_start": day.replace(month=1, day=1)}).all()
    return [HeadcountRow(r.code, r.department, r.active, r.on_leave, r.left_since) for r in rows if r.total > 0], \
        sum(r.undated for r in rows)


def headcount_csv(day: date) -> str:
    report = headcount(day)
    return BOM + csv_text([["code", "department", "active", "on_leave", "left_since", "employed"],
                           *([r.code, r.department, r.active, r.on_leave, r.left_since, r.total]
                             for r in report.rows)])


# --- hires and leavers by month --------------------------------------------------------------

@dataclass(frozen=True)
class MonthRow:
    month: date  # its first day
    hires: int
    leavers: int  # whose termination date falls in the month

    @property
    def net(self) -> int:
        return self.hires - self.leavers


MONTHS_SQL = """
SELECT m.month::date AS month, coalesce(sum(h.hires), 0) AS hires, coalesce(sum(h.leavers), 0) AS leavers
FROM generate_series(CAST(:first AS date), CAST(:last AS date), interval '1 month') AS m(month)
LEFT JOIN headcount_changes h ON h.grain = 'month' AND h.period = m.month::date
GROUP BY m.month ORDER BY m.month
"""


def hires_and_leavers(today: date) -> list[MonthRow]:
    """The last MONTHS_SHOWN months up to today's, oldest first; a month
    without hires or leavers is there with zeros."""
    return cached(_hires_and_leavers, today)


def _hires_and_leavers(today: date) -> list[MonthRow]:
    this_month = today.replace(day=1)
    rows = db.session.execute(text(MONTHS_SQL), {
        "first": add_months(this_month, 1 - MONTHS_SHOWN), "last": this_month})
    return [MonthRow(r.month, r.hires, r.leavers) for r in rows]


def month_still_to_come(today: date) -> tuple[int, int]:
    """(hires, leavers) in today's month that have not happened yet: hired
    after today, or with a last day today or later. hires_and_leavers counts
    them in the month's row (by their dates); the home page says them apart,
    so the report page names them too."""
    start = today.replace(day=1)
    return cached(_period_changes, start, add_months(start, 1), today)[2:]


def hires_and_leavers_csv(today: date) -> str:
    return BOM + csv_text([["month", "hires", "leavers", "net"],
                           *([r.month.strftime("%Y-%m"), r.hires, r.leavers, r.net]
                             for r in hires_and_leavers(today))])


# --- the home page ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Dashboard:
    today: date
    headcount: Headcount
    quarter_start: date
    hires_this_quarter: int  # hired on or before today
    leavers_this_quarter: int  # whose last day was before today (the last day still counts as employed)
    hires_later: int  # the quarter's hires and leavers still to come: planned, not done
    leavers_later: int
    anyone: bool  # False in an empty app: nothing stored yet


# A period's days (a quarter on the home page, a month on the hires and
# leavers report): those up to today done, the rest planned (a leaver's
# last day still counts as employed: they have left once it is past).
PERIOD_SQL = """
SELECT coalesce(sum(hires) FILTER (WHERE period <= :today), 0) AS hires,
       coalesce(sum(leavers) FILTER (WHERE period < :today), 0) AS leavers,
       coalesce(sum(hires) FILTER (WHERE period > :today), 0) AS hires_later,
       coalesce(sum(leavers) FILTER (WHERE period >= :today), 0) AS leavers_later
FROM headcount_changes WHERE grain = 'day' AND period >= :start AND period < :end
"""


def dashboard(today: date) -> Dashboard:
    start = quarter_start(today)
    hires, leavers, hires_later, leavers_later = cached(_period_changes, start, add_months(start, 3), today)
    return Dashboard(today=today, headcount=headcount(today), quarter_start=start,
                     hires_this_quarter=hires, leavers_this_quarter=leavers, hires_later=hires_later,
                     leavers_later=leavers_later, anyone=report_state().anyone)


def _period_changes(start: date, end: date, today: date) -> tuple[int, int, int, int]:
    """(hires done, leavers done, hires later, leavers later) from start up to end (excluded)."""
    period = db.session.execute(text(PERIOD_SQL), {"start": start, "end": end, "today": today}).one()
    return period.hires, period.leavers, period.hires_later, period.leavers_later
