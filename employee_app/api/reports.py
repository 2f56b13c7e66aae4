"""i13-imports: /api/v1/reports/*, the report pages' CSV rows as JSON, from
the same services/reports.py functions (and their per-generation cache)."""
from flask import request, url_for
from spectree import Response

from .. import clock
from ..services import reports
from . import bp, tags
from .import_report_schemas import (DepartmentsAboveMeanReport, HeadcountQuery, HeadcountReport,
                                    HiresAndLeaversReport, HiresByQuarterReport, NoQuery, YearQuery)
from .views import ANY_ROLE, spec, token_access


def _csv_url(endpoint: str, **args) -> str:
    return url_for(f"reports.{endpoint}_csv", **args, _external=True)


def report_route(name: str, query, answer):
    """GET /reports/<name>: every role (as the report pages), the filters
    validated by `query`, the answer shaped by `answer`."""
    def decorator(view):
        validated = spec.validate(tags=[tags.REPORTS], query=query, resp=Response(HTTP_200=answer))(view)
        return bp.get(f"/reports/{name}")(token_access(*ANY_ROLE)(validated))
    return decorator


@report_route("hires-by-quarter", YearQuery, HiresByQuarterReport)
def report_hires_by_quarter():
    """Hires per department and job in each quarter of a year: every row of the CSV."""
    year = request.context.query.year_or_this
    summary = reports.hires_by_quarter(year)
    return HiresByQuarterReport.model_validate({
        "year": year, "rows": [vars(row) for row in reports.hires_by_quarter_rows(year)],
        "left_out": summary.left_out, "no_hire_date": summary.no_hire_date,
        "csv": _csv_url("hires_by_quarter", year=year)})


@report_route("departments-above-mean", YearQuery, DepartmentsAboveMeanReport)
def report_departments_above_mean():
    """The departments that hired more than the mean of all departments in a year."""
    year = request.context.query.year_or_this
    report = reports.departments_above_mean(year)
    return DepartmentsAboveMeanReport.model_validate({
        "year": year, "mean": report.mean, "hired": report.hired, "departments_listed": report.departments_listed,
        "rows": [{"code": row.code, "department": row.name, "hired": row.hired} for row in report.rows],
        "csv": _csv_url("departments_above_mean", year=year)})


@report_route("headcount", HeadcountQuery, HeadcountReport)
def report_headcount():
    """Who was employed on a date, per department and today's status."""
    day = request.context.query.date or clock.today()
    report = reports.headcount(day)
    return HeadcountReport.model_validate({
        "date": day, "employed": report.total, "undated_leavers": report.undated_leavers,
        "no_hire_date": report.no_hire_date,
        "rows": [{"code": row.code, "department": row.department, "active": row.active, "on_leave": row.on_leave,
                  "left_since": row.left_since, "employed": row.total} for row in report.rows],
        "csv": _csv_url("headcount", date=day.isoformat())})


@report_route("hires-and-leavers", NoQuery, HiresAndLeaversReport)
def report_hires_and_leavers():
    """Hires and leavers in each of the last 24 months."""
    months = reports.hires_and_leavers(clock.today())
    return HiresAndLeaversReport.model_validate({
        "rows": [{"month": row.month.strftime("%Y-%m"), "hires": row.hires, "leavers": row.leavers,
                  "net": row.net} for row in months],
        "csv": _csv_url("hires_and_leavers")})
