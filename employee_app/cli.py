"""Command-line tools: thin wrappers over the services."""
import os
import sys

import click
from flask import Flask, current_app
from sqlalchemy import select

from .extensions import db
from .models import IMPORT_MODES, ROLES, ImportJob, User
from .push_client import push_command
from .services import api_tokens, duplicate_guard, users
from .services.errors import InvalidInput
from .services.importer import reports
from .valkey_store import VALKEY_ERRORS


@click.command("create-user")
@click.argument("username")
@click.option("--role", type=click.Choice(ROLES), required=True)
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
def create_user_command(username: str, role: str, password_stdin: bool) -> None:
    """Create an account (the password is prompted for, or read from stdin)."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")  # a line as typed, on any system
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        user = users.create_user(username, password, role)
    except InvalidInput as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"Created {user.role} account {user.username}.")


@click.command("set-password")
@click.argument("username")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
def set_password_command(username: str, password_stdin: bool) -> None:
    """Set a new password for an account (e.g. a locked-out admin); its open
    sessions end and its login lock is lifted."""
    user = users.get_by_username(username)
    if user is None:
        raise click.ClickException(f"There is no account {username}.")
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")  # a line as typed, on any system
    else:
        password = click.prompt("New password", hide_input=True, confirmation_prompt=True)
    try:
        users.set_password(user.id, password)
    except InvalidInput as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"New password set for {user.username}.")


@click.command("create-token")
@click.argument("username")
@click.argument("name")
def create_token_command(username: str, name: str) -> None:
    """Create an API token for an account and print it (once: only its hash is kept)."""
    user = users.get_by_username(username)
    if user is None:
        raise click.ClickException(f"There is no account {username}.")
    if not user.active:
        raise click.ClickException(f"The account {user.username} is deactivated; its tokens would not work.")
    try:
        _, token = api_tokens.create_token(user.id, name)
    except InvalidInput as error:
        raise click.ClickException(error.errors["name"]) from None
    click.echo(token)


@click.command("rebuild-index")
def rebuild_index_command() -> None:
    """Rebuild the Valkey sets of employee IDs and e-mails from PostgreSQL."""
    try:
        count = duplicate_guard.rebuild_index()
    except duplicate_guard.RebuildRunning as running:
        raise click.ClickException(f"{running} Try again in a minute.") from None
    except VALKEY_ERRORS as error:  # its message can quote every e-mail of a batch
        raise click.ClickException(f"Valkey did not take the rebuild ({type(error).__name__}); "
                                   "check that it is up and has memory to spare.") from None
    click.echo(f"Indexed {count} employees in Valkey.")


@click.command("worker")
@click.option("--burst", is_flag=True, help="Stop when the queue is empty.")
def worker_command(burst: bool) -> None:
    """Run an import worker: takes import jobs from the queue on Valkey."""
    from .services.importer import bulk, jobs
    from .services.importer.worker import ImportWorker

    # A bulk import that died with the last worker left the table without
    # its secondary indexes: they are built before any job is taken.
    bulk.recover(jobs.psycopg_url())
    queue = jobs.get_queue()
    heartbeat = current_app.config["IMPORT_WORKER_HEARTBEAT"]
    worker = ImportWorker([queue], connection=queue.connection, job_monitoring_interval=heartbeat)
    worker.work(burst=burst, with_scheduler=False)


@click.command("import-csv")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--mode", type=click.Choice(IMPORT_MODES), default="valid_rows", show_default=True)
@click.option("--user", "username", help="The account the import is recorded under.")
def import_csv_command(path: str, mode: str, username: str | None) -> None:
    """Import a CSV or XLSX file here, with a progress bar (no worker needed).

    The file's headers must name the fields (see /imports/template.csv), or
    match a mapping confirmed before on the upload page."""
    from .services.importer import jobs
    from .services.importer.files import FileRefused

    user = db.session.execute(select(User).where(User.username == username.strip().lower())).scalar_one_or_none() \
        if username else None
    if username and user is None:
        raise click.ClickException(f"There is no account {username}.")
    try:
        with open(path, "rb") as stream:
            job = jobs.create_import(stream, os.path.basename(path), mode=mode, on_existing="skip",
                                     user=user, queue=False)
    except FileRefused as refused:
        raise click.ClickException(refused.message) from None
    if job.status == "mapping":
        raise click.ClickException("The file's columns need a mapping: upload it once on /imports/new "
                                   "and confirm the columns, or rename the headers as in the template.")
    total = job.total_rows_estimate or 0
    with click.progressbar(length=total, label=f"Import #{job.id}", show_pos=True) as bar:
        def advance(counts):
            bar.update(min(counts.rows_read, total) - bar.pos)
        counts = jobs.run_import(job.id, on_progress=advance)
        if counts is None:  # another runner holds this import
            raise click.ClickException(f"Import #{job.id} is being run elsewhere; see /imports/{job.id}.")
        bar.update(total - bar.pos)
    done = db.session.get(ImportJob, job.id)
    click.echo(f"{reports.sum_line(done)} {reports.report(done).outcome}")
    if counts.duplicates + counts.invalid:
        click.echo(f"The rejected rows, with the reasons: /imports/{job.id}/rejected.csv")


def _retention(ctx, param, value: str):
    from .services.importer.retention import BadRetention, parse_retention

    try:
        return parse_retention(value)
    except BadRetention as error:
        raise click.BadParameter(str(error)) from None


@click.command("prune-uploads")
@click.option("--older-than", "retention", required=True, callback=_retention, metavar="AGE",
              help="How long a finished import keeps its file: 12h, 30d, 2w ...")
def prune_uploads_command(retention) -> None:
    """Delete the uploaded files of finished imports older than AGE; their
    counts, rejected rows and history stay. Uploads left at the column
    mapping for longer than AGE are cancelled, and their files deleted."""
    from .services.importer.retention import prune_uploads

    pruned = prune_uploads(retention)
    imports = "1 finished import" if pruned.imports == 1 else f"{pruned.imports} finished imports"
    files = "1 file" if pruned.files == 1 else f"{pruned.files} files"
    if pruned.abandoned:
        click.echo(f"Cancelled {pruned.abandoned} upload{'' if pruned.abandoned == 1 else 's'} left at the column "
                   "mapping for longer than that.")
    click.echo(f"Deleted the uploaded files of {imports} ({files}, {reports.size_text(pruned.bytes)}).")
    if pruned.failed:
        raise click.ClickException(f"{pruned.failed} files could not be deleted: see the log.")


def register_commands(app: Flask) -> None:
    for command in (create_user_command, set_password_command, create_token_command, rebuild_index_command, worker_command,
                    import_csv_command, prune_uploads_command, push_command):
        app.cli.add_command(command)
