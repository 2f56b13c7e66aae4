"""The reports and the home page: read the filters, call services/reports, render."""
from flask import Response, abort, render_template
from flask_login import current_user

from .. import charts, clock
from ..query_params import BadParameter, accepts, date_arg, int_arg
from ..security import login_required
from ..services import audit, employees, reports
from ..services.employee_rules import EARLIEST_DATE, latest_date
from ..services.importer.reports import recent_imports
from . import bp, home_bp

RECENT_IMPORTS = 5
RECENT_CHANGES = 8
MAX_PAGE = 100_000  # far more than any year has (12 departments x 180 jobs: 22 pages)


@bp.before_request
@home_bp.before_request
def merge_waiting_summaries():
    """Every page here reads the summaries: first merge what the last
    changes appended (for people signed in: the views check that next)."""
    if current_user.is_authenticated:
        reports.compact_if_waiting()


def year_arg() -> int:
    """?year=: a year the app can hold a date in; this year when absent."""
    latest = latest_date().year
    return int_arg("year", EARLIEST_DATE.year, latest, f"a year from {EARLIEST_DATE.year} to {latest}") \
        or clock.today().year


def year_choices(year: int) -> list[int]:
    """The year picker's years: those with hires, the one shown, and this
    one (the default, so that it can be picked again from another year)."""
    return sorted({year, clock.today().year, *reports.years_with_hires()}, reverse=True)


def csv_download(body: str, filename: str) -> Response:
    return Response(body, mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


@home_bp.route("/")
@login_required
def dashboard():
    board = reports.dashboard(clock.today())
    imports = recent_imports(RECENT_IMPORTS) if current_user.has_role("admin", "hr") else []
    changes = audit.list_entries(audit.AuditQuery(per_page=RECENT_CHANGES)).rows \
        if current_user.has_role("admin") else []
    # Not kept with the figures: it changes as days pass, and the notice must
    # go as soon as they are corrected. A count of a small partial index.
    past_last_day = employees.count_past_last_day(board.today) if board.anyone else None
    return render_template("home.html", board=board, chart=charts.headcount_chart(board.headcount),
                           imports=imports, changes=changes,
                           past_last_day=past_last_day if past_last_day and past_last_day[0] else None)


@bp.route("")
@login_required
def index():
    return render_template("reports/index.html")


@bp.route("/hires-by-quarter")
@login_required
@accepts("year", "page")
def hires_by_quarter():
    year = year_arg()
    report = reports.hires_by_quarter(year, int_arg("page", 1, MAX_PAGE, "a page number") or 1)
    if report.page > report.pages:
        abort(404)
    return render_template("reports/hires_by_quarter.html", report=report, years=year_choices(year),
                           chart=charts.quarters_chart(report))


@bp.route("/hires-by-quarter.csv")
@login_required
@accepts("year")
def hires_by_quarter_csv():
    year = year_arg()
    return csv_download(reports.hires_by_quarter_csv(year), f"hires-by-quarter-{year}.csv")


@bp.route("/departments-above-mean")
@login_required
@accepts("year")
def departments_above_mean():
    year = year_arg()
    return render_template("reports/departments_above_mean.html", report=reports.departments_above_mean(year),
                           years=year_choices(year))


@bp.route("/departments-above-mean.csv")
@login_required
@accepts("year")
def departments_above_mean_csv():
    year = year_arg()
    return csv_download(reports.departments_above_mean_csv(year), f"departments-above-mean-{year}.csv")


@bp.route("/headcount")
@login_required
@accepts("date")
def headcount():
    today, latest = clock.today(), latest_date()
    try:
        day = date_arg("date") or today
    except BadParameter as problem:
        # A date typed into the link (a picker sends none out of its range):
        # the form again, the reason at its field, the keyboard on it.
        return render_template("reports/headcount.html", report=None, problem=problem.reason,
                               today=today, earliest=EARLIEST_DATE, latest=latest), 400
    report = reports.headcount(day)
    return render_template("reports/headcount.html", report=report, chart=charts.headcount_chart(report),
                           today=today, earliest=EARLIEST_DATE, latest=latest)


@bp.route("/headcount.csv")
@login_required
@accepts("date")
def headcount_csv():
    day = date_arg("date") or clock.today()
    return csv_download(reports.headcount_csv(day), f"headcount-{day}.csv")


@bp.route("/hires-and-leavers")
@login_required
def hires_and_leavers():
    today = clock.today()
    months = reports.hires_and_leavers(today)
    return render_template("reports/hires_and_leavers.html", months=months, chart=charts.months_chart(months),
                           today=today, still_to_come=reports.month_still_to_come(today))


@bp.route("/hires-and-leavers.csv")
@login_required
def hires_and_leavers_csv():
    today = clock.today()
    return csv_download(reports.hires_and_leavers_csv(today), f"hires-and-leavers-{today:%Y-%m}.csv")
