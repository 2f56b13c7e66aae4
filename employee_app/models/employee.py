"""Employees, and the two lists their records refer to: departments and jobs.

The unique constraints here are the final duplicate guarantee: employee_id is
stored in its canonical form (trimmed, upper-case; a CHECK keeps it so) and
email lower-cased, so plain UNIQUE constraints compare them the way HR does.
"""
from datetime import date, datetime

from sqlalchemy import (
    BigInteger, CheckConstraint, Computed, Date, DateTime, ForeignKey, Index,
    Integer, String, UniqueConstraint, case, cast, func, literal_column, text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship
from sqlalchemy.sql.expression import Grouping

from ..extensions import db

STATUSES = ("active", "on_leave", "terminated")
EMPLOYMENT_TYPES = ("full_time", "part_time", "contractor", "temporary", "intern")

# Lower-cased text that the list page's search box matches by substring; a
# trigram GIN index on it keeps "%smith%" fast on a million rows. The spaces
# around it let a one- or two-letter search match whole words ("% li %"),
# which the trigram index can also answer.
SEARCH_TEXT_SQL = (
    "' ' || lower(employee_id || ' ' || first_name || ' ' || last_name"
    " || ' ' || coalesce(email, '')) || ' '"
)


# A list entry's optional code (e.g. another system's department number):
# unique without regard to case, stored trimmed.
CODE_LENGTH = 32


class Department(db.Model):
    __tablename__ = "departments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    code: Mapped[str | None] = mapped_column(String(CODE_LENGTH))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    __table_args__ = (
        Index("uq_departments_name_lower", func.lower(name), unique=True),
        Index("uq_departments_code_lower", func.lower(code), unique=True),
        CheckConstraint("name = btrim(name) AND name <> ''", name="ck_departments_name_trimmed"),
        CheckConstraint("code IS NULL OR (code = btrim(code) AND code <> '')", name="ck_departments_code_trimmed"),
    )

    def __repr__(self) -> str:
        return f"<Department {self.name}>"


class Job(db.Model):
    """A job title in the company's list of jobs; employees refer to it."""
    __tablename__ = "jobs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    code: Mapped[str | None] = mapped_column(String(CODE_LENGTH))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    __table_args__ = (
        Index("uq_jobs_name_lower", func.lower(name), unique=True),
        Index("uq_jobs_code_lower", func.lower(code), unique=True),
        CheckConstraint("name = btrim(name) AND name <> ''", name="ck_jobs_name_trimmed"),
        CheckConstraint("code IS NULL OR (code = btrim(code) AND code <> '')", name="ck_jobs_code_trimmed"),
    )

    def __repr__(self) -> str:
        return f"<Job {self.name}>"


class Employee(db.Model):
    __tablename__ = "employees"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    employee_id: Mapped[str] = mapped_column(String(32))
    first_name: Mapped[str] = mapped_column(String(100))
    last_name: Mapped[str] = mapped_column(String(100))
    email: Mapped[str | None] = mapped_column(String(254))
    phone: Mapped[str | None] = mapped_column(String(40))
    department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id", ondelete="RESTRICT"))
    job_id: Mapped[int | None] = mapped_column(ForeignKey("jobs.id", ondelete="RESTRICT"))
    employment_type: Mapped[str | None] = mapped_column(String(16))
    location: Mapped[str | None] = mapped_column(String(120))
    hire_date: Mapped[date | None] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16), server_default="active")
    termination_date: Mapped[date | None] = mapped_column(Date)
    version: Mapped[int] = mapped_column(Integer, server_default="1")
    # Which import created the record, and from which row of its file: lets a
    # later row of the same file be told "also on row N of this file".
    import_id: Mapped[int | None] = mapped_column(BigInteger)
    import_row: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )
    search_text: Mapped[str] = mapped_column(String, Computed(SEARCH_TEXT_SQL, persisted=True))

    department: Mapped[Department | None] = relationship(lazy="joined")
    job: Mapped[Job | None] = relationship(lazy="joined")

    __mapper_args__ = {"version_id_col": version}
    __table_args__ = (
        UniqueConstraint("employee_id", name="uq_employees_employee_id"),
        UniqueConstraint("email", name="uq_employees_email"),
        CheckConstraint(
            "employee_id = upper(btrim(employee_id)) AND employee_id <> ''",
            name="ck_employees_employee_id_canonical",
        ),
        CheckConstraint("email = lower(btrim(email))", name="ck_employees_email_canonical"),
        CheckConstraint(f"status IN {STATUSES!r}", name="ck_employees_status"),
        CheckConstraint(
            f"employment_type IS NULL OR employment_type IN {EMPLOYMENT_TYPES!r}",
            name="ck_employees_employment_type",
        ),
        Index("ix_employees_search_trgm", "search_text", postgresql_using="gin",
              postgresql_ops={"search_text": "gin_trgm_ops"}),
        # Keyset pagination: one index per sort order the list page offers
        # (the expression ones are below the class).
        Index("ix_employees_name", "last_name", "first_name", "id"),
        Index("ix_employees_status_name", "status", "last_name", "first_name", "id"),
        Index("ix_employees_department_name", "department_id", "last_name", "first_name", "id"),
        # Exact counts of the list's status and department filters: an
        # index-only scan of a small (deduplicated) index. A department alone
        # is counted from ix_employees_department_name.
        Index("ix_employees_status_department", "status", "department_id"),
        # Employees per job (the jobs list's counts, "is this job used?").
        Index("ix_employees_job", "job_id"),
        # The reports' "N employees have no hire date": a tiny partial index.
        Index("ix_employees_no_hire_date", "id", postgresql_where=text("hire_date IS NULL")),
    )

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}"

    @property
    def job_title(self) -> str | None:
        """The job's name: what forms, pages and files call the job title."""
        return self.job.name if self.job is not None else None

    def __repr__(self) -> str:
        return f"<Employee {self.employee_id}>"


# --- the list's sort keys, and their indexes ----------------------------------
# The list orders by these expressions (services/employees.SORTS); each has an
# index on exactly them, so that every page is an index range scan.

# IDs in natural order: the text before an ID's trailing number, then that
# number (its last 18 digits at most: always a bigint; none counts as -1),
# then the ID: 1, 2, 10 and E2, E10, F1, as people count. Written with
# rtrim/left/right rather than two regular expressions (as migration 0006
# had it, with the same keys): building the index on a million rows takes
# 1.5 s instead of 4 to 5 (migration 0015). The constants are literals, so
# that a prepared statement's ORDER BY still matches the index.
_DIGITS = literal_column("'0123456789'")
_NUMBER_LENGTH = func.least(func.length(Employee.employee_id) - func.length(func.rtrim(Employee.employee_id, _DIGITS)),
                            literal_column("18"))
NATURAL_ID_KEY = (
    func.left(Employee.employee_id, func.length(Employee.employee_id) - _NUMBER_LENGTH, type_=String),
    func.coalesce(cast(func.nullif(func.right(Employee.employee_id, _NUMBER_LENGTH), literal_column("''")),
                       BigInteger), literal_column("-1")),
    Employee.employee_id,
)
# A record without a hire date comes last in both directions: as the latest
# date ascending, as the earliest descending (one index per direction).
HIRE_DATE_OR_LATEST = func.coalesce(Employee.hire_date, literal_column("'9999-12-31'::date"))
HIRE_DATE_OR_EARLIEST = func.coalesce(Employee.hire_date, literal_column("'0001-01-01'::date"))

Index("ix_employees_employee_id_natural", *NATURAL_ID_KEY)
Index("ix_employees_hire_date", HIRE_DATE_OR_LATEST, Employee.id)
Index("ix_employees_hire_date_desc", HIRE_DATE_OR_EARLIEST.desc(), Employee.id.desc())


# --- records that disagree with themselves ------------------------------------
# The termination date of someone not terminated; NULL for everyone else.
# Before today it marks a record still active or on leave after its last day
# (services/employee_rules.past_last_day), which the list can filter on and
# the home page counts. Migration 0017 indexes exactly this expression, only
# where it is not NULL (those who gave notice, and those past their last
# day: a few rows), and keeps statistics on it (CREATE STATISTICS): the
# planner then knows that few rows match. From the status and the date
# apart it would guess a fifth of the table (most terminated people have a
# past date, most others are not terminated) and walk the whole name index
# for a page of them. 'terminated' is a literal, as in the index: a bound
# parameter would not match it.
LAST_DAY_UNLESS_TERMINATED = case((Employee.status != literal_column("'terminated'"), Employee.termination_date))

Index("ix_employees_past_last_day", Grouping(LAST_DAY_UNLESS_TERMINATED),  # ON ((CASE ...)), as CREATE INDEX needs
      postgresql_where=LAST_DAY_UNLESS_TERMINATED.isnot(None))
