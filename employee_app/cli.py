"""Command-line tools: thin wrappers over the services."""
import sys

import click
from flask import Flask

from .models import ROLES
from .services import duplicate_guard, users
from .services.errors import InvalidInput


@click.command("create-user")
@click.argument("username")
@click.option("--role", type=click.Choice(ROLES), required=True)
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
def create_user_command(username: str, role: str, password_stdin: bool) -> None:
    """Create an account (the password is prompted for, or read from stdin)."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        user = users.create_user(username, password, role)
    except InvalidInput as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"Created {user.role} account {user.username}.")


@click.command("rebuild-index")
def rebuild_index_command() -> None:
    """Rebuild the Valkey sets of employee IDs and e-mails from PostgreSQL."""
    count = duplicate_guard.rebuild_index()
    click.echo(f"Indexed {count} employees in Valkey.")


def register_commands(app: Flask) -> None:
    for command in (create_user_command, rebuild_index_command):
        app.cli.add_command(command)
