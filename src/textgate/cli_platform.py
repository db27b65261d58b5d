"""The platform's commands: contacts, groups, lists, reports, users, credit transfers, blocklist, bulk.

Like the administrative commands in :mod:`textgate.cli` they work on the database directly (each command
one transaction, through the same service functions as the API), take the account id or unique name
first, and print textgate errors as one line with exit status 1.

``textgate.cli`` imports this module at its end; the commands register themselves onto its app then.
``contacts import`` reports progress on stderr, so stdout carries only the results; a file with failed
lines still exits 0 (the per-line report is the answer), only a file that cannot be read exits 1.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskProgressColumn, TextColumn
from rich.table import Table
from sqlalchemy import Connection

from textgate.cli import app, credits_app, emit_json, err, fail, in_tx, out
from textgate.domain.clock import isoformat, utcnow

contacts_app = typer.Typer(help="The address book: contacts and CSV import.", no_args_is_help=True)
groups_app = typer.Typer(help="Contact groups.", no_args_is_help=True)
lists_app = typer.Typer(help="Distribution lists (with mail-merge fields).", no_args_is_help=True)
users_app = typer.Typer(help="Users: sub-accounts with their own keys and credits.", no_args_is_help=True)
blocklist_app = typer.Typer(help="Numbers an account never sends to.", no_args_is_help=True)
bulk_app = typer.Typer(help="Bulk sends to groups and lists.", no_args_is_help=True)
for _sub, _name in (
    (contacts_app, "contacts"),
    (groups_app, "groups"),
    (lists_app, "lists"),
    (users_app, "users"),
    (blocklist_app, "blocklist"),
    (bulk_app, "bulk"),
):
    app.add_typer(_sub, name=_name)

Account = Annotated[str, typer.Argument(help="Account id or unique name.")]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON.")]
#: Lines of a failed or partial import shown in the table; the counts cover every line.
SHOWN_PROBLEMS = 50


# -- contacts, groups, lists ---------------------------------------------------------------------------
@contacts_app.command("import")
def contacts_import(
    account: Account,
    file: Annotated[Path, typer.Argument(help="CSV file: name,number,email,group1,group2,...")],
    ignore_dupes: Annotated[bool, typer.Option("--ignore-dupes", help="Add duplicates anyway.")] = False,
    overwrite_dupes: Annotated[
        bool, typer.Option("--overwrite-dupes", help="Overwrite the contact having the line's number.")
    ] = False,
) -> None:
    """Import contacts from a CSV file in one transaction, with a progress bar.

    Example: textgate contacts import acme customers.csv --overwrite-dupes
    """
    from textgate.service.accounts import find_account
    from textgate.service.contact_import import SUCCESS, ImportReport, import_contacts_csv

    try:
        text = file.read_bytes().decode("utf-8")
    except OSError as exc:
        fail(f"cannot read {file}: {exc.strerror or exc}")
    except UnicodeDecodeError as exc:
        fail(f"{file} is not UTF-8 text (byte {exc.start}); save it as CSV UTF-8")

    progress = Progress(
        TextColumn("importing"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("lines"),
        TaskProgressColumn(),
        console=err,
    )
    task = progress.add_task("import", total=None)

    def _import(conn: Connection) -> ImportReport:
        return import_contacts_csv(
            conn,
            find_account(conn, account),
            text,
            ignore_dupes=ignore_dupes,
            overwrite_dupes=overwrite_dupes,
            now=utcnow(),
            progress=lambda done, total: progress.update(task, completed=done, total=total),
        )

    with progress:
        report = in_tx(_import)
    counts: dict[str, int] = {}
    for line in report.lines:
        counts[line.outcome] = counts.get(line.outcome, 0) + 1
    summary = ", ".join(f"{outcome} {n}" for outcome, n in counts.items()) or "no lines"
    out.print(f"{len(report.lines)} lines: {summary}; {report.added} added, {report.updated} updated")
    problems = [line for line in report.lines if line.outcome != SUCCESS]
    if problems:
        table = Table("line", "outcome", "reasons")
        for line in problems[:SHOWN_PROBLEMS]:
            table.add_row(str(line.line), line.outcome, "; ".join(line.reasons))
        out.print(table)
        if len(problems) > SHOWN_PROBLEMS:
            out.print(f"… and {len(problems) - SHOWN_PROBLEMS} more lines that were not a Success")


@contacts_app.command("list")
def contacts_list(
    account: Account,
    group: Annotated[str | None, typer.Option(help="Only members of this group (its name).")] = None,
    as_json: AsJson = False,
) -> None:
    """List an account's contacts. Example: textgate contacts list acme --group customers"""
    from textgate.api.contacts import contact_view
    from textgate.service.accounts import find_account
    from textgate.service.contacts import PAGE_MAX, list_contacts

    def _all(conn: Connection) -> list[dict[str, Any]]:
        acc = find_account(conn, account)
        items: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            found, cursor = list_contacts(conn, acc, limit=PAGE_MAX, cursor=cursor, group=group)
            items += [contact_view(c) for c in found]
            if cursor is None:
                return items

    items = in_tx(_all)
    if as_json:
        emit_json(items)
        return
    table = Table("id", "name", "number", "email", "groups")
    for c in items:
        table.add_row(c["id"], c["name"], c["number"], c["email"] or "", ", ".join(c["groups"]))
    out.print(table)


@groups_app.command("list")
def groups_list(account: Account, as_json: AsJson = False) -> None:
    """List an account's groups with their sizes. Example: textgate groups list acme"""
    from textgate.api.contacts import group_view
    from textgate.service.accounts import find_account
    from textgate.service.contacts import list_groups

    items = in_tx(lambda c: [group_view(g) for g in list_groups(c, find_account(c, account))])
    if as_json:
        emit_json(items)
        return
    table = Table("id", "name", "members")
    for g in items:
        table.add_row(g["id"], g["name"], str(g["members"]))
    out.print(table)


@lists_app.command("list")
def lists_list(account: Account, as_json: AsJson = False) -> None:
    """List an account's distribution lists. Example: textgate lists list acme"""
    from textgate.api.lists import list_view
    from textgate.service.accounts import find_account
    from textgate.service.lists import list_lists

    items = in_tx(lambda c: [list_view(d) for d in list_lists(c, find_account(c, account))])
    if as_json:
        emit_json(items)
        return
    table = Table("id", "name", "size", "fields")
    for d in items:
        table.add_row(d["id"], d["name"], str(d["size"]), ", ".join(d["field_names"]))
    out.print(table)


# -- reports -------------------------------------------------------------------------------------------
@app.command("reports")
def reports(
    report_type: Annotated[
        str, typer.Argument(metavar="TYPE", help="outbox, messages, failed, inbound, usage")
    ],
    account: Account,
    from_: Annotated[
        str | None, typer.Option("--from", help="Start: YYYY-MM-DD, YYYYMMDDHHMMSS or RFC 3339.")
    ] = None,
    to: Annotated[str | None, typer.Option("--to", help="End (a date alone: the end of that day).")] = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write the CSV here.")] = None,
) -> None:
    """Write a CSV report (default: the last 30 days) to stdout or a file.

    Example: textgate reports usage acme --from 2026-03-01 --to 2026-03-31 --output march.csv
    """
    from textgate.api.reports import report_range
    from textgate.service.accounts import find_account
    from textgate.service.reports import build_report, to_csv

    def _build(conn: Connection) -> str:
        acc = find_account(conn, account)
        now = utcnow()
        lo, hi = report_range(acc, from_, to, now=now)
        return to_csv(build_report(conn, acc, report_type, start=lo, end=hi, now=now))

    content = in_tx(_build)
    if output is None:
        typer.echo(content, nl=False)
        return
    try:
        output.write_text(content, encoding="utf-8", newline="")
    except OSError as exc:
        fail(f"cannot write {output}: {exc.strerror or exc}")
    err.print(f"wrote {content.count(chr(10)) - 1} rows to {output}", highlight=False)


# -- users and credits ---------------------------------------------------------------------------------
@users_app.command("create")
def users_create(
    parent: Annotated[str, typer.Argument(help="The parent account's id or unique name.")],
    username: Annotated[str, typer.Argument(help="The new user's sign-in name.")],
    password: Annotated[str, typer.Option(prompt=True, hide_input=True, help="At least 8 characters.")],
    first_name: Annotated[str, typer.Option(help="First name.")],
    last_name: Annotated[str, typer.Option(help="Last name.")],
    email: Annotated[str, typer.Option(help="Email address.")],
    admin: Annotated[bool, typer.Option("--admin", help="May create users and move credits.")] = False,
    credits: Annotated[int, typer.Option(help="Starting credits, taken from the parent.")] = 0,
    as_json: AsJson = False,
) -> None:
    """Create a user (sub-account); its API secret is printed once.

    Example: textgate users create acme dept01 --first-name Ada --last-name Lovelace --email ada@x.io
    """
    from textgate.service.accounts import Account as AccountValue
    from textgate.service.accounts import NewKey, find_account
    from textgate.service.users import create_user

    def _create(conn: Connection) -> tuple[AccountValue, NewKey]:
        return create_user(
            conn,
            find_account(conn, parent),
            username=username,
            password=password,
            access_level="admin" if admin else "normal",
            first_name=first_name,
            last_name=last_name,
            email=email,
            credits=credits,
            now=utcnow(),
        )

    user, key = in_tx(_create)
    if as_json:
        emit_json({"user_id": user.id, "username": user.username, "key_id": key.key_id, "secret": key.secret})
        return
    out.print(f"user [bold]{user.id}[/] ({user.username}, {user.access_level}, {credits} credits)")
    out.print(f"key id  [bold]{key.key_id}[/]")
    out.print(f"secret  [bold]{key.secret}[/]  (shown once; store it now)")


@users_app.command("list")
def users_list(
    parent: Annotated[str, typer.Argument(help="The parent account.")], as_json: AsJson = False
) -> None:
    """List a parent account's users with their balances. Example: textgate users list acme"""
    from textgate.api.users import user_view
    from textgate.service.accounts import balance, find_account
    from textgate.service.users import list_users

    def _list(conn: Connection) -> list[dict[str, Any]]:
        return [user_view(u, balance(conn, u.id)) for u in list_users(conn, find_account(conn, parent))]

    items = in_tx(_list)
    if as_json:
        emit_json(items)
        return
    table = Table("id", "username", "name", "access", "status", "credits")
    for u in items:
        table.add_row(
            u["id"], u["username"] or "", u["name"], u["access_level"], u["status"], str(u["credits"])
        )
    out.print(table)


@credits_app.command("transfer", context_settings={"ignore_unknown_options": True})
def credits_transfer(
    parent: Annotated[str, typer.Argument(help="The parent account's id or unique name.")],
    child: Annotated[str, typer.Argument(help="The user's account id or username.")],
    amount: Annotated[int, typer.Argument(help="Credits to give the user (negative takes them back).")],
    note: Annotated[str | None, typer.Option(help="A note on both ledgers.")] = None,
) -> None:
    """Move credits between a parent and one of its users.

    Example: textgate credits transfer acme dept01 250
    """
    from textgate.service.accounts import find_account
    from textgate.service.users import transfer_credits

    t = in_tx(lambda c: transfer_credits(c, find_account(c, parent), child, amount, now=utcnow(), note=note))
    out.print(f"transfer {t.id}: parent balance {t.parent_balance}, user balance {t.child_balance}")


# -- blocklist and bulk sends --------------------------------------------------------------------------
Number = Annotated[str, typer.Argument(help="The number, E.164 or national in the account's region.")]


@blocklist_app.command("add")
def blocklist_add(
    account: Account, number: Number, note: Annotated[str | None, typer.Option(help="Why.")] = None
) -> None:
    """Never send to a number. Example: textgate blocklist add acme +15550000001 --note 'asked us'"""
    from textgate.service.accounts import find_account
    from textgate.service.policy import block_number

    e164 = in_tx(lambda c: block_number(c, find_account(c, account), number, now=utcnow(), note=note))
    out.print(f"{e164} blocked")


@blocklist_app.command("remove")
def blocklist_remove(account: Account, number: Number) -> None:
    """Allow sends to a number again. Example: textgate blocklist remove acme +15550000001"""
    from textgate.service.accounts import find_account
    from textgate.service.policy import unblock_number

    e164 = in_tx(lambda c: unblock_number(c, find_account(c, account), number))
    out.print(f"{e164} unblocked")


def _iso(value: object) -> object:
    return isoformat(value) if isinstance(value, datetime) else value


@blocklist_app.command("list")
def blocklist_list(account: Account, as_json: AsJson = False) -> None:
    """List an account's blocked numbers. Example: textgate blocklist list acme"""
    from textgate.service.accounts import find_account
    from textgate.service.policy import blocklist

    items = in_tx(lambda c: blocklist(c, find_account(c, account)))
    rows = [{**i, "created_at": _iso(i["created_at"])} for i in items]
    if as_json:
        emit_json(rows)
        return
    table = Table("number", "note", "since")
    for r in rows:
        table.add_row(str(r["number"]), str(r["note"] or ""), str(r["created_at"]))
    out.print(table)


@bulk_app.command("show")
def bulk_show(
    account: Account,
    bulk_id: Annotated[str, typer.Argument(help="The bulk send's id (bul_...).")],
    as_json: AsJson = False,
) -> None:
    """A bulk send's progress. Example: textgate bulk show acme bul_..."""
    from textgate.service.accounts import find_account
    from textgate.service.bulk import get_bulk_send

    view = in_tx(lambda c: get_bulk_send(c, find_account(c, account), bulk_id).view())
    if as_json:
        emit_json(view)
        return
    table = Table("field", "value", show_header=False)
    target = view["target"]
    table.add_row("id", view["id"])
    table.add_row("target", f"{target['type']} {target['name']} ({target['id']})")
    for key in ("status", "from", "recipients", "messages_created", "credits_reserved", "created_at"):
        table.add_row(key, str(view[key]))
    table.add_row("finished_at", str(view["finished_at"] or ""))
    by_status = ", ".join(f"{s} {n}" for s, n in view["messages_by_status"].items())
    table.add_row("messages_by_status", by_status or "none yet")
    out.print(table)
