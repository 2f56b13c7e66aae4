"""bulk imports: secondary indexes built after a large load, report summaries
folded in after it, one audit entry per import for the records it creates

Revision ID: 0010_bulk_imports
Revises: 0009_report_summaries
Create Date: 2026-12-06 09:00:00.000000

A large import (services/importer/bulk.py) loads faster into a table without
its secondary indexes, and without a summary row written per batch:

- bulk_load_indexes: the exact definition (pg_get_indexdef) of every index
  a bulk import dropped, written in the transaction that dropped it. The
  import builds them again at its end, each in the transaction that deletes
  its row; if it dies first, the next worker start, the next import or the
  page that notices the dead worker builds them. Unique constraints are
  never dropped.
- bulk_load_rows: the imports whose rows (import_row > after_row) the report
  summaries do not count yet. The summary triggers leave those rows out
  (inserted, updated or deleted, by anyone), and report_summaries_fold()
  adds them once, under a SHARE lock on employees (no writer in between),
  in the transaction that deletes the import's row here.

The audit log gets subject 'import': one entry for an import that creates
records (who, when, which file), in the transaction of its first stored
rows. Each record keeps import_id and import_row; its page shows "created
by import #N, row R" with the values it was created with (its values now,
with the later changes in the log undone). Updates by an import keep an
entry per record.
"""
from alembic import op

revision = '0010_bulk_imports'
down_revision = '0009_report_summaries'
branch_labels = None
depends_on = None

OLD_SUBJECTS = "('employee', 'department', 'job')"
NEW_SUBJECTS = "('employee', 'department', 'job', 'import')"
OLD_NAMED = ("CASE WHEN subject = 'employee'"
             " THEN employee_pk IS NOT NULL AND employee_id IS NOT NULL AND entry_pk IS NULL"
             " ELSE entry_pk IS NOT NULL AND entry_name IS NOT NULL AND employee_pk IS NULL END")
NEW_NAMED = ("CASE subject"
             " WHEN 'employee' THEN employee_pk IS NOT NULL AND employee_id IS NOT NULL AND entry_pk IS NULL"
             " WHEN 'import' THEN import_id IS NOT NULL AND employee_pk IS NULL AND entry_pk IS NULL"
             " ELSE entry_pk IS NOT NULL AND entry_name IS NOT NULL AND employee_pk IS NULL END")

# The summaries' SQL as in 0009_report_summaries, with the rows of a bulk
# import still loading left out (filtered=True).
CHANGED_COLUMNS = "hire_date, termination_date, department_id, job_id, status"
LOADING = ("NOT EXISTS (SELECT 1 FROM bulk_load_rows b"
           " WHERE b.import_id = {rows}.import_id AND {rows}.import_row > b.after_row)")
TRANSITION_TABLES = {
    "insert": "NEW TABLE AS new_rows",
    "update": "OLD TABLE AS old_rows NEW TABLE AS new_rows",
    "delete": "OLD TABLE AS old_rows",
}


def _rows(sign: str, table: str, filtered: bool) -> str:
    where = f" WHERE {LOADING.format(rows=table)}" if filtered else ""
    return f"SELECT {sign} AS sign, {CHANGED_COLUMNS} FROM {table}{where}"


def changed_rows(event: str, filtered: bool) -> str:
    if event == "insert":
        return _rows("1", "new_rows", filtered)
    if event == "delete":
        return _rows("-1", "old_rows", filtered)
    return f"{_rows('1', 'new_rows', filtered)} UNION ALL {_rows('-1', 'old_rows', filtered)}"


# Each summary's rows for a set of changed rows ({changed}: sign and the
# columns above), as in 0009_report_summaries.
HEADCOUNT_SUMS = """
SELECT grain, period, department_id, status, hires, leavers, undated_leavers FROM (
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
QUARTER_SUMS = """
SELECT year, department_id, job_id, q1, q2, q3, q4 FROM (
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
# (table, key columns, value columns, sums)
SUMMARIES = (
    ("headcount_changes", "grain, period, department_id, status", "hires, leavers, undated_leavers", HEADCOUNT_SUMS),
    ("hires_by_quarter", "year, department_id, job_id", "q1, q2, q3, q4", QUARTER_SUMS),
)


def appended(changed: str) -> str:
    """What a trigger does: append each summary's rows, unmerged."""
    return ";\n".join(f"INSERT INTO {table} ({keys}, {values}, merged) SELECT *, false FROM ({sums.format(changed=changed)}) s"
                      for table, keys, values, sums in SUMMARIES)


# The fold's sums: the same rows as the triggers' (the rows of an insert,
# sign 1), summed a cheaper way for a million rows: per day first, then the
# months and years from the days, and in memory.
FOLD_SUMS = """
loaded AS MATERIALIZED (
    SELECT hire_date, termination_date, coalesce(department_id, 0) AS department_id,
           coalesce(job_id, 0) AS job_id, status
    FROM employees WHERE import_id = loaded_import AND import_row > after),
days AS MATERIALIZED (
    SELECT day, department_id, status, sum(hires)::int AS hires, sum(leavers)::int AS leavers,
           sum(undated)::int AS undated_leavers
    FROM (SELECT hire_date AS day, department_id, status, 1 AS hires, 0 AS leavers,
                 CASE WHEN status = 'terminated' AND termination_date IS NULL THEN 1 ELSE 0 END AS undated
          FROM loaded WHERE hire_date IS NOT NULL
          UNION ALL
          SELECT termination_date, department_id, status, 0, 1, 0 FROM loaded WHERE termination_date IS NOT NULL AND hire_date IS NOT NULL) e
    GROUP BY 1, 2, 3),
sums_0 AS MATERIALIZED (
    SELECT 'day' AS grain, day AS period, department_id, status, hires, leavers, undated_leavers FROM days
    UNION ALL
    SELECT 'month', date_trunc('month', day::timestamp)::date, department_id, status, sum(hires)::int,
           sum(leavers)::int, sum(undated_leavers)::int
    FROM days GROUP BY 2, 3, 4
    UNION ALL
    SELECT 'year', date_trunc('year', day::timestamp)::date, department_id, status, sum(hires)::int,
           sum(leavers)::int, sum(undated_leavers)::int
    FROM days GROUP BY 2, 3, 4),
sums_1 AS MATERIALIZED (
    SELECT year, department_id, job_id, count(*) FILTER (WHERE quarter = 1)::int AS q1,
           count(*) FILTER (WHERE quarter = 2)::int AS q2, count(*) FILTER (WHERE quarter = 3)::int AS q3,
           count(*) FILTER (WHERE quarter = 4)::int AS q4
    FROM (SELECT date_part('year', hire_date)::int AS year, date_part('quarter', hire_date)::int AS quarter,
                 department_id, job_id FROM loaded WHERE hire_date IS NOT NULL) h
    GROUP BY 1, 2, 3)"""


def merged_in() -> str:
    """Each summary's sums (FOLD_SUMS) merged with the rows already there
    for the same keys, into one merged row per key, as
    services/reports.compact_summaries() merges (the rows it takes, it sums:
    a merge running meanwhile takes each row at most once)."""
    parts, last = [], None
    for number, (table, keys, values, _) in enumerate(SUMMARIES):
        key_list, value_list = keys.split(", "), values.split(", ")
        match = " AND ".join(f"t.{key} = s.{key}" for key in key_list)
        totals = ", ".join(f"sum({value})" for value in value_list)
        zeros = ", ".join("0" for _ in value_list)
        parts.append(f"taken_{number} AS (DELETE FROM {table} t USING sums_{number} s WHERE {match}"
                     f" RETURNING {', '.join(f't.{column}' for column in key_list + value_list)})")
        insert = (f"INSERT INTO {table} ({keys}, {values}, merged)"
                  f" SELECT {keys}, {totals}, true FROM (SELECT * FROM sums_{number}"
                  f" UNION ALL SELECT * FROM taken_{number}) x GROUP BY {keys} HAVING ({totals}) <> ({zeros})"
                  f" ORDER BY {keys}")
        if number < len(SUMMARIES) - 1:
            parts.append(f"inserted_{number} AS ({insert})")
        else:
            last = insert
    return f"WITH {FOLD_SUMS},\n" + ",\n".join(parts) + "\n" + last


# The rows of a loading import, added once, merged with what is there. The
# SHARE lock waits for every writer of employees to finish and keeps new
# ones out until the commit: no change of these rows slips between the
# triggers that left them out and this sum. The merge lock keeps
# compact_summaries() out meanwhile (services/reports.MERGE_LOCK).
FOLD_FUNCTION = f"""
CREATE FUNCTION report_summaries_fold(loaded_import bigint) RETURNS boolean LANGUAGE plpgsql AS $fn$
DECLARE
    after bigint;
BEGIN
    LOCK TABLE employees IN SHARE MODE;
    DELETE FROM bulk_load_rows WHERE import_id = loaded_import RETURNING after_row INTO after;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    PERFORM pg_advisory_xact_lock(7004, 1);
    PERFORM set_config('work_mem', '256MB', true);
    {merged_in()};
    -- The figures the web processes keep are now stale: the next report
    -- request merges this row away and bumps the generation.
    INSERT INTO report_changes DEFAULT VALUES;
    RETURN true;
END $fn$"""


def _create_triggers(filtered: bool) -> None:
    for event in TRANSITION_TABLES:
        statements = appended(changed_rows(event, filtered))
        op.execute(f"""
            CREATE OR REPLACE FUNCTION report_summaries_{event}() RETURNS trigger LANGUAGE plpgsql AS $fn$
            BEGIN
                {statements};
                RETURN NULL;
            END $fn$""")


def upgrade():
    op.execute("""
        CREATE TABLE bulk_load_indexes (
            name text PRIMARY KEY,
            definition text NOT NULL,
            import_id bigint,
            dropped_at timestamptz NOT NULL DEFAULT now()
        )""")
    op.execute("""
        CREATE TABLE bulk_load_rows (
            import_id bigint PRIMARY KEY,
            after_row bigint NOT NULL,
            started_at timestamptz NOT NULL DEFAULT now()
        )""")
    _create_triggers(filtered=True)
    op.execute(FOLD_FUNCTION)

    op.drop_constraint('ck_audit_log_subject', 'audit_log', type_='check')
    op.create_check_constraint('ck_audit_log_subject', 'audit_log', f"subject IN {NEW_SUBJECTS}")
    op.drop_constraint('ck_audit_log_subject_named', 'audit_log', type_='check')
    op.create_check_constraint('ck_audit_log_subject_named', 'audit_log', NEW_NAMED)
    # An import's own entry, found from the import (a few rows among millions).
    op.execute("CREATE INDEX ix_audit_log_import ON audit_log (import_id) WHERE subject = 'import'")


def downgrade():
    # What a bulk import left behind goes back first: its rows into the
    # summaries, its indexes onto the table.
    op.execute("SELECT report_summaries_fold(import_id) FROM bulk_load_rows")
    op.execute("""
        DO $do$
        DECLARE dropped record;
        BEGIN
            FOR dropped IN SELECT name, definition FROM bulk_load_indexes LOOP
                IF to_regclass(quote_ident(dropped.name)) IS NULL THEN
                    EXECUTE dropped.definition;
                END IF;
            END LOOP;
        END $do$""")
    op.execute("DROP FUNCTION report_summaries_fold(bigint)")
    _create_triggers(filtered=False)
    op.drop_table('bulk_load_rows')
    op.drop_table('bulk_load_indexes')

    op.execute("DROP INDEX ix_audit_log_import")
    op.execute("DELETE FROM audit_log WHERE subject = 'import'")
    op.drop_constraint('ck_audit_log_subject_named', 'audit_log', type_='check')
    op.create_check_constraint('ck_audit_log_subject_named', 'audit_log', OLD_NAMED)
    op.drop_constraint('ck_audit_log_subject', 'audit_log', type_='check')
    op.create_check_constraint('ck_audit_log_subject', 'audit_log', f"subject IN {OLD_SUBJECTS}")
