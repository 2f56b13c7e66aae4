"""report summaries: hires, leavers and headcount changes per period, kept by triggers

Revision ID: 0009_report_summaries
Revises: 0008_list_audit
Create Date: 2026-12-04 09:00:00.000000

The reports (services/reports.py) read two small tables instead of a
million employees:

- headcount_changes: per grain ('year', 'month', 'day'), period (the first
  day of it), department and status: the employees hired in it (hires),
  those whose termination date falls in it (leavers), and those hired in it
  whose status is terminated without a termination date (undated_leavers:
  no date says when they left, so the headcount leaves them out).
  A headcount on a date adds whole years before it, the months of its year
  before its month and the days of its month: at most ~75 rows per
  department and status, whatever the date.
- hires_by_quarter: per year, department and job: the hires of each quarter.

Department and job 0 stand for "none" (key columns are NOT NULL, so rows
of one key compare equal). Employees without a hire date have no rows at
all (no hire, so no leaving either: the headcount subtracts leavers from
hires).

report_state.generation counts the changes to what the reports show. Only
a merge writes it (services/reports.compact_summaries, one at a time under
an advisory lock): writers never do, so no two writers wait on it. A change
to the departments or jobs lists (names, codes, the number of departments)
and a TRUNCATE of employees append a row to report_changes, as changes to
employees append summary rows; the merge takes them and bumps the
generation. The web processes keep report figures in memory per generation,
and whatever waits is merged before a report is read. ix_employees_no_hire_date counts
the employees without a hire date from a tiny index.

Kept right by statement-level triggers on employees, so every path that
changes employees (forms, edits, deletes, bulk actions, imports, SQL by
hand) keeps them right in its own transaction. A trigger only appends rows
(+1 for a row as it is now, -1 for a row as it was), aggregated per
statement, and never updates one: writers take no lock on a shared row, so a
long import's transaction blocks no form and no two writers can deadlock
here. Readers sum the rows of a key; services/reports.compact_summaries()
merges a key's rows into one (`merged`) from time to time. TRUNCATE
employees empties both.

The backfill reads every employee once (about 4 s for 1,000,000).
"""
from alembic import op

revision = '0009_report_summaries'
down_revision = '0008_list_audit'
branch_labels = None
depends_on = None

# The employee columns the summaries read, signed: {changed} in the
# statements below.
CHANGED_COLUMNS = "hire_date, termination_date, department_id, job_id, status"
CHANGED_ROWS = {
    "insert": f"SELECT 1 AS sign, {CHANGED_COLUMNS} FROM new_rows",
    "update": f"SELECT 1 AS sign, {CHANGED_COLUMNS} FROM new_rows"
              f" UNION ALL SELECT -1, {CHANGED_COLUMNS} FROM old_rows",
    "delete": f"SELECT -1 AS sign, {CHANGED_COLUMNS} FROM old_rows",
}
TRANSITION_TABLES = {
    "insert": "NEW TABLE AS new_rows",
    "update": "OLD TABLE AS old_rows NEW TABLE AS new_rows",
    "delete": "OLD TABLE AS old_rows",
}

HEADCOUNT_CHANGES_SQL = """
INSERT INTO headcount_changes (grain, period, department_id, status, hires, leavers, undated_leavers, merged)
SELECT grain, period, department_id, status, hires, leavers, undated_leavers, {merged} FROM (
    SELECT g.grain, date_trunc(g.grain, e.day::timestamp)::date AS period, e.department_id, e.status,
           sum(e.hires) AS hires, sum(e.leavers) AS leavers, sum(e.undated) AS undated_leavers
    FROM (SELECT c.hire_date AS day, coalesce(c.department_id, 0) AS department_id, c.status,
                 c.sign AS hires, 0 AS leavers,
                 CASE WHEN c.status = 'terminated' AND c.termination_date IS NULL THEN c.sign ELSE 0 END AS undated
          FROM ({changed}) c WHERE c.hire_date IS NOT NULL
          UNION ALL
          SELECT c.termination_date, coalesce(c.department_id, 0), c.status, 0, c.sign, 0
          FROM ({changed}) c WHERE c.termination_date IS NOT NULL AND c.hire_date IS NOT NULL) e
    CROSS JOIN (VALUES ('year'), ('month'), ('day')) AS g(grain)
    GROUP BY 1, 2, 3, 4) s
WHERE (hires, leavers, undated_leavers) <> (0, 0, 0)
"""

HIRES_BY_QUARTER_SQL = """
INSERT INTO hires_by_quarter (year, department_id, job_id, q1, q2, q3, q4, merged)
SELECT year, department_id, job_id, q1, q2, q3, q4, {merged} FROM (
    SELECT extract(year FROM c.hire_date)::int AS year, coalesce(c.department_id, 0) AS department_id,
           coalesce(c.job_id, 0) AS job_id,
           coalesce(sum(c.sign) FILTER (WHERE extract(quarter FROM c.hire_date) = 1), 0) AS q1,
           coalesce(sum(c.sign) FILTER (WHERE extract(quarter FROM c.hire_date) = 2), 0) AS q2,
           coalesce(sum(c.sign) FILTER (WHERE extract(quarter FROM c.hire_date) = 3), 0) AS q3,
           coalesce(sum(c.sign) FILTER (WHERE extract(quarter FROM c.hire_date) = 4), 0) AS q4
    FROM ({changed}) c WHERE c.hire_date IS NOT NULL
    GROUP BY 1, 2, 3) s
WHERE (q1, q2, q3, q4) <> (0, 0, 0, 0)
"""
SUMMARY_SQL = (HEADCOUNT_CHANGES_SQL, HIRES_BY_QUARTER_SQL)
# The transition table that says whether a list statement changed a row.
LIST_EVENTS = {"insert": "new_rows", "update": "new_rows", "delete": "old_rows"}

# Few reads find many rows of one key between merges; vacuum the
# appended rows soon, so that the covering indexes answer alone.
AUTOVACUUM = ("autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 10000, "
              "autovacuum_vacuum_insert_scale_factor = 0, autovacuum_vacuum_insert_threshold = 10000")


def upgrade():
    op.execute(f"""
        CREATE TABLE headcount_changes (
            grain varchar(5) NOT NULL CHECK (grain IN ('year', 'month', 'day')),
            period date NOT NULL,
            department_id integer NOT NULL,
            status varchar(16) NOT NULL,
            hires integer NOT NULL,
            leavers integer NOT NULL,
            undated_leavers integer NOT NULL,
            merged boolean NOT NULL
        ) WITH ({AUTOVACUUM})""")
    # Covering: a report's range of periods is read from the index alone.
    op.execute("CREATE INDEX ix_headcount_changes_period ON headcount_changes (grain, period)"
               " INCLUDE (department_id, status, hires, leavers, undated_leavers)")
    op.execute("CREATE INDEX ix_headcount_changes_unmerged ON headcount_changes (grain) WHERE NOT merged")
    op.execute(f"""
        CREATE TABLE hires_by_quarter (
            year integer NOT NULL,
            department_id integer NOT NULL,
            job_id integer NOT NULL,
            q1 integer NOT NULL,
            q2 integer NOT NULL,
            q3 integer NOT NULL,
            q4 integer NOT NULL,
            merged boolean NOT NULL
        ) WITH ({AUTOVACUUM})""")
    op.execute("CREATE INDEX ix_hires_by_quarter_year ON hires_by_quarter (year)"
               " INCLUDE (department_id, job_id, q1, q2, q3, q4)")
    op.execute("CREATE INDEX ix_hires_by_quarter_unmerged ON hires_by_quarter (year) WHERE NOT merged")

    op.execute("CREATE TABLE report_state (one boolean PRIMARY KEY DEFAULT true CHECK (one),"
               " generation bigint NOT NULL)")
    op.execute("INSERT INTO report_state (generation) VALUES (1)")
    op.execute("CREATE TABLE report_changes (at timestamptz NOT NULL DEFAULT now())")
    # A list statement counts only when it changed rows (an import's
    # INSERT ... ON CONFLICT DO NOTHING of names already listed does not).
    for event, rows in LIST_EVENTS.items():
        op.execute(f"""
            CREATE FUNCTION report_lists_{event}() RETURNS trigger LANGUAGE plpgsql AS $fn$
            BEGIN
                IF EXISTS (SELECT 1 FROM {rows}) THEN
                    INSERT INTO report_changes DEFAULT VALUES;
                END IF;
                RETURN NULL;
            END $fn$""")
        for table in ("departments", "jobs"):
            op.execute(f"""
                CREATE TRIGGER report_lists_{event} AFTER {event.upper()} ON {table}
                REFERENCING {TRANSITION_TABLES[event]}
                FOR EACH STATEMENT EXECUTE FUNCTION report_lists_{event}()""")
    op.execute("CREATE INDEX ix_employees_no_hire_date ON employees (id) WHERE hire_date IS NULL")

    for event, changed in CHANGED_ROWS.items():
        statements = ";\n".join(sql.format(changed=changed, merged="false") for sql in SUMMARY_SQL)
        op.execute(f"""
            CREATE FUNCTION report_summaries_{event}() RETURNS trigger LANGUAGE plpgsql AS $fn$
            BEGIN
                {statements};
                RETURN NULL;
            END $fn$""")
        op.execute(f"""
            CREATE TRIGGER report_summaries_{event} AFTER {event.upper()} ON employees
            REFERENCING {TRANSITION_TABLES[event]}
            FOR EACH STATEMENT EXECUTE FUNCTION report_summaries_{event}()""")
    op.execute("""
        CREATE FUNCTION report_summaries_truncate() RETURNS trigger LANGUAGE plpgsql AS $fn$
        BEGIN
            TRUNCATE headcount_changes, hires_by_quarter;
            INSERT INTO report_changes DEFAULT VALUES;
            RETURN NULL;
        END $fn$""")
    op.execute("CREATE TRIGGER report_summaries_truncate AFTER TRUNCATE ON employees"
               " FOR EACH STATEMENT EXECUTE FUNCTION report_summaries_truncate()")

    # The employees stored so far, one merged row per key.
    everyone = f"SELECT 1 AS sign, {CHANGED_COLUMNS} FROM employees"
    for sql in SUMMARY_SQL:
        op.execute(sql.format(changed=everyone, merged="true"))
    op.execute("ANALYZE headcount_changes")
    op.execute("ANALYZE hires_by_quarter")


def downgrade():
    for event in LIST_EVENTS:
        for table in ("departments", "jobs"):
            op.execute(f"DROP TRIGGER report_lists_{event} ON {table}")
        op.execute(f"DROP FUNCTION report_lists_{event}()")
    op.execute("DROP INDEX ix_employees_no_hire_date")
    op.drop_table('report_changes')
    op.drop_table('report_state')
    for event in (*CHANGED_ROWS, "truncate"):
        op.execute(f"DROP TRIGGER report_summaries_{event} ON employees")
        op.execute(f"DROP FUNCTION report_summaries_{event}()")
    op.drop_table('hires_by_quarter')
    op.drop_table('headcount_changes')
