"""The change feed's order: audit entries by the commit that wrote them (issue 13)

Revision ID: 0014_change_feed
Revises: 0013_api_tokens
Create Date: 2026-11-27 13:50:00.000000

GET /api/v1/changes must never let a consumer that follows its `next` miss
an entry. Ordering by audit_log.id cannot promise that: ids are taken from
a sequence before commit, so an entry whose transaction commits late
appears behind a cursor that has already passed it. Here every transaction
that writes an audit entry (or an import batch's marker) takes a number in
COMMIT order: a deferred trigger, run as the transaction commits, takes a
transaction-level advisory lock and the next number. The lock is released
only after the commit is visible to others, so number n+1 is taken only
once number n's transaction is visible: a reader that sees n+1 sees n, and
nothing can appear behind a cursor later (docs/api.md, "The change feed").

- audit_log.txid: the writing transaction (pg_current_xact_id(): the
  top-level one, also inside a savepoint); existing rows get this
  migration's, and this migration takes number 1, so the history before it
  keeps its id order.
- audit_commits: (seq, txid), one row per committing transaction.
- import_feed_batches: one row per committed import batch (import, its row
  range), expanded by the feed into the records that batch created; ids from
  audit_log's sequence, so a batch sorts among its transaction's entries.
  The imports before this migration get one such row each, at the place of
  their own audit entry.
- audit_log.import_row: the import row of a deleted imported record, kept on
  its delete entry so the feed still gives its creation.
- ix_employees_import_row: an import batch's records by (import, row).
"""
from alembic import op

revision = '0014_change_feed'
down_revision = '0013_api_tokens'
branch_labels = None
depends_on = None

# Any fixed number: the advisory lock that orders the commits of audit entries.
COMMIT_ORDER_LOCK = (7_014, 1)  # (class, id), beside the other advisory locks (services/importer/jobs.py)


def upgrade():
    op.execute("ALTER TABLE audit_log ADD COLUMN txid xid8 NOT NULL DEFAULT pg_current_xact_id()")
    op.execute("ALTER TABLE audit_log ADD COLUMN import_row bigint")
    op.execute("CREATE INDEX ix_audit_log_txid ON audit_log (txid, id)")
    op.execute("CREATE INDEX ix_audit_log_deleted_import_row ON audit_log (import_id, import_row)"
               " WHERE import_row IS NOT NULL")
    op.execute("CREATE SEQUENCE audit_commit_seq")
    op.execute("""
        CREATE TABLE audit_commits (
            seq bigint PRIMARY KEY,
            txid xid8 NOT NULL,
            committed_at timestamptz NOT NULL DEFAULT clock_timestamp(),
            CONSTRAINT uq_audit_commits_txid UNIQUE (txid))""")
    op.execute("""
        CREATE TABLE import_feed_batches (
            id bigint PRIMARY KEY DEFAULT nextval('audit_log_id_seq'),
            txid xid8 NOT NULL DEFAULT pg_current_xact_id(),
            at timestamptz NOT NULL DEFAULT now(),
            import_id bigint NOT NULL,
            first_row bigint NOT NULL,
            last_row bigint NOT NULL,
            CONSTRAINT uq_import_feed_batches_rows UNIQUE (import_id, first_row))""")
    op.execute("CREATE INDEX ix_import_feed_batches_txid ON import_feed_batches (txid, id)")
    op.execute("CREATE INDEX ix_employees_import_row ON employees (import_id, import_row)"
               " WHERE import_id IS NOT NULL")
    # The history so far: one commit, this one, in id order; each import's
    # records at the place of its own entry.
    op.execute("INSERT INTO audit_commits (seq, txid) VALUES (nextval('audit_commit_seq'), pg_current_xact_id())")
    op.execute("INSERT INTO import_feed_batches (id, at, import_id, first_row, last_row)"
               " SELECT id, at, import_id, 0, 9223372036854775807 FROM audit_log WHERE subject = 'import'")
    op.execute(f"""
        CREATE FUNCTION audit_commit_order() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF NOT EXISTS (SELECT 1 FROM audit_commits WHERE txid = pg_current_xact_id()) THEN
                PERFORM pg_advisory_xact_lock({COMMIT_ORDER_LOCK[0]}, {COMMIT_ORDER_LOCK[1]});
                INSERT INTO audit_commits (seq, txid) VALUES (nextval('audit_commit_seq'), pg_current_xact_id());
            END IF;
            RETURN NULL;
        END $$""")
    for table in ("audit_log", "import_feed_batches"):
        op.execute(f"CREATE CONSTRAINT TRIGGER {table}_commit_order AFTER INSERT ON {table}"
                   " DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION audit_commit_order()")


def downgrade():
    for table in ("audit_log", "import_feed_batches"):
        op.execute(f"DROP TRIGGER {table}_commit_order ON {table}")
    op.execute("DROP FUNCTION audit_commit_order()")
    op.execute("DROP INDEX ix_employees_import_row")
    op.execute("DROP TABLE import_feed_batches")
    op.execute("DROP TABLE audit_commits")
    op.execute("DROP SEQUENCE audit_commit_seq")
    op.execute("DROP INDEX ix_audit_log_deleted_import_row")
    op.execute("DROP INDEX ix_audit_log_txid")
    op.execute("ALTER TABLE audit_log DROP COLUMN import_row")
    op.execute("ALTER TABLE audit_log DROP COLUMN txid")
