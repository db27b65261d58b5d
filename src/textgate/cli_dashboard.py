"""Dashboard sign-ins from the command line: ``accounts set-login`` and ``operators create|password|list``.

Passwords are read from standard input (``--password-stdin``: the first line), never from the command
line, where other users of the machine could read them in the process list.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from textgate.cli import accounts_app, app, emit_json, in_tx, out, read_password
from textgate.domain.clock import utcnow

operators_app = typer.Typer(help="People who run the gateway: dashboard sign-ins that see every account.")
app.add_typer(operators_app, name="operators", no_args_is_help=True)

PASSWORD_STDIN = typer.Option(
    "--password-stdin", help="Read the password from standard input (its first line); required."
)


@accounts_app.command("set-login")
def accounts_set_login(
    account: Annotated[str, typer.Argument(help="Account id or name.")],
    username: Annotated[str, typer.Option("--username", help="The dashboard sign-in name.")],
    password_stdin: Annotated[bool, PASSWORD_STDIN] = False,
) -> None:
    """Give an account its dashboard sign-in, or change it.

    Example: echo "$PASSWORD" | textgate accounts set-login acme --username acme-admin --password-stdin
    """
    from textgate.service.accounts import find_account
    from textgate.service.users import set_login

    password = read_password(password_stdin)
    in_tx(lambda conn: set_login(conn, find_account(conn, account).id, username, password))
    out.print(f"{account} signs in to the dashboard as {username}")


@operators_app.command("create")
def operators_create(
    username: Annotated[str, typer.Argument(help="The operator's sign-in name.")],
    password_stdin: Annotated[bool, PASSWORD_STDIN] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Create an operator. Example: echo "$PASSWORD" | textgate operators create alice --password-stdin"""
    from textgate.service.operators import create_operator

    password = read_password(password_stdin)
    operator_id = in_tx(lambda conn: create_operator(conn, username, password, now=utcnow()))
    if as_json:
        emit_json({"id": operator_id, "username": username})
    else:
        out.print(f"operator {username} created ({operator_id})")


@operators_app.command("password")
def operators_password(
    username: Annotated[str, typer.Argument(help="The operator's sign-in name.")],
    password_stdin: Annotated[bool, PASSWORD_STDIN] = False,
) -> None:
    """Change an operator's password. Example: textgate operators password alice --password-stdin"""
    from textgate.service.operators import set_operator_password

    password = read_password(password_stdin)
    in_tx(lambda conn: set_operator_password(conn, username, password))
    out.print(f"password of {username} changed")


@operators_app.command("list")
def operators_list(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """The operators. Example: textgate operators list"""
    from textgate.service.operators import list_operators

    rows = in_tx(list_operators)
    if as_json:
        emit_json([{**r, "created_at": str(r["created_at"])} for r in rows])
        return
    table = Table("id", "username", "created")
    for r in rows:
        table.add_row(str(r["id"]), str(r["username"]), str(r["created_at"]))
    out.print(table)
