"""The ``textgate`` command line.

Administrative commands (accounts, numbers, credits, keys, db, simulate) work on the database named by
``TEXTGATE_DATABASE_URL`` directly; ``send`` and ``messages`` talk to a running gateway through its API
(``TEXTGATE_URL``, ``TEXTGATE_API_KEY``), as any client would.
"""

from __future__ import annotations

import json
import os
import socket
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import httpx
import typer
from rich.console import Console
from rich.table import Column, Table
from sqlalchemy import Connection, Engine

from textgate.config import Settings
from textgate.domain.clock import utcnow
from textgate.domain.errors import TextgateError
from textgate.runtime import tune_gc

T = TypeVar("T")

app = typer.Typer(
    name="textgate",
    help="textgate — a self-hosted SMS/MMS gateway.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
accounts_app = typer.Typer(help="Create and inspect accounts.", no_args_is_help=True)
numbers_app = typer.Typer(help="Sender numbers owned by accounts.", no_args_is_help=True)
credits_app = typer.Typer(help="The credits ledger.", no_args_is_help=True)
keys_app = typer.Typer(help="API keys.", no_args_is_help=True)
messages_app = typer.Typer(help="Read and cancel messages through a running gateway.", no_args_is_help=True)
simulate_app = typer.Typer(help="Drive the built-in carrier simulator.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
webhooks_app = typer.Typer(
    help="Where events go: signed webhooks and provider formats.", no_args_is_help=True
)
for sub, name in (
    (accounts_app, "accounts"),
    (numbers_app, "numbers"),
    (credits_app, "credits"),
    (keys_app, "keys"),
    (messages_app, "messages"),
    (simulate_app, "simulate"),
    (db_app, "db"),
    (webhooks_app, "webhooks"),
):
    app.add_typer(sub, name=name)

# Piped output is not squeezed to 80 columns: tables stay readable in logs and with grep.
out = Console(width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True, soft_wrap=True)


def fail(message: str, code: int = 1) -> NoReturn:
    err.print(f"[bold red]error:[/] {message}", highlight=False)
    raise typer.Exit(code)


def _engine() -> Engine:
    from textgate.bootstrap import prepare_database
    from textgate.store.db import make_engine

    settings = Settings()
    engine = make_engine(settings.database_url, synchronous=settings.sqlite_synchronous)
    try:
        prepare_database(engine)
    except RuntimeError as exc:
        fail(str(exc))
    return engine


def in_tx(fn: Callable[[Connection], T]) -> T:
    """Run ``fn`` in one transaction; textgate errors become one clear line and exit status 1."""
    engine = _engine()
    try:
        with engine.begin() as conn:
            return fn(conn)
    except TextgateError as exc:
        fail(exc.message)
    finally:
        engine.dispose()


def emit_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")


# -- serve / db -------------------------------------------------------------------------------------
@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to listen on (default 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default 8080).")] = None,
    api_fd: Annotated[int | None, typer.Option(hidden=True)] = None,
    forward: Annotated[str | None, typer.Option(hidden=True)] = None,
) -> None:
    """Run the gateway: APIs, dispatch and webhook workers, and the simulator carrier.

    Example: TEXTGATE_DATABASE_URL=postgresql://textgate@db/textgate textgate serve --host 0.0.0.0
    """
    import logging

    import uvicorn

    from textgate.bootstrap import DatabaseOutOfDate, check_configuration, prepare_database
    from textgate.routing.config import RoutingConfigError
    from textgate.store.db import in_memory, make_engine
    from textgate.web.app import create_app

    settings = Settings()
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    engine = make_engine(settings.database_url, synchronous=settings.sqlite_synchronous)
    if api_fd is None:
        from textgate.config import database_location

        where = database_location(settings.database_url)
        logging.getLogger("textgate").warning("database: %s", where)
        legacy = Path("var/textgate.db")  # the default of earlier versions, relative to the directory
        if legacy.exists() and legacy.resolve() != Path(where):
            logging.getLogger("textgate").warning(
                "%s is the database earlier versions used by default; to keep using it, set "
                "TEXTGATE_DATABASE_URL=sqlite:///%s",
                legacy.resolve(),
                legacy.resolve(),
            )
    try:
        prepare_database(engine)
    except DatabaseOutOfDate as exc:
        fail(str(exc))
    try:
        check_configuration(settings, engine)
    except RoutingConfigError as exc:
        from rich.markup import escape

        fail(f"configuration: {escape(str(exc))}")  # "[[routes]]" is not rich markup
    if api_fd is not None:  # an API process started by its serve (web/processes.py)
        from textgate.web.processes import exit_with_parent

        exit_with_parent()
        application = create_app(settings, engine=engine, workers=False, forward=forward)
        _serve_on(application, socket.socket(fileno=api_fd), settings)
        return
    if settings.api_processes:
        from textgate.web.metrics import enter_multiprocess_mode
        from textgate.web.processes import ApiProcesses

        enter_multiprocess_mode(sys.argv[1:])  # /metrics adds up every process's counts

        if in_memory(settings.database_url):
            fail("TEXTGATE_API_PROCESSES needs a database file or server, not an in-memory database")
        public = socket.create_server((host or settings.host, port or settings.port), backlog=2048)
        public.set_inheritable(True)
        internal = socket.create_server(("127.0.0.1", 0))
        children = ApiProcesses(
            settings.api_processes, public.fileno(), f"http://127.0.0.1:{internal.getsockname()[1]}"
        )
        application = create_app(settings, engine=engine, api_processes=children)
        _serve_on(application, internal, settings)  # removes the metrics directory as it stops
        return
    application = create_app(settings, engine=engine)
    tune_gc()
    uvicorn.run(
        application,
        host=host or settings.host,
        port=port or settings.port,
        log_level=settings.log_level,
        access_log=False,
    )


def _serve_on(application: Any, sock: socket.socket, settings: Settings) -> None:
    """uvicorn on a socket made by ``serve`` (API processes and their parent), set up as ``serve`` is."""
    import uvicorn

    tune_gc()
    config = uvicorn.Config(application, log_level=settings.log_level, access_log=False)
    uvicorn.Server(config).run(sockets=[sock])


@db_app.command("path")
def db_path() -> None:
    """Print where the database is (the absolute file of SQLite; the URL, password hidden, otherwise).
    Example: textgate db path"""
    from textgate.config import database_location

    print(database_location(Settings().database_url))


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply every pending migration. Example: textgate db upgrade"""
    from textgate.store.db import make_engine
    from textgate.store.migrate import current_revision, upgrade

    settings = Settings()
    engine = make_engine(settings.database_url)
    upgrade(engine)
    out.print(f"database at revision {current_revision(engine)}")


def read_password(from_stdin: bool) -> str:
    """The first line of standard input (``--password-stdin``); passwords never go on the command line,
    where other users of the machine could read them in the process list."""
    if not from_stdin:
        fail("give the password on standard input with --password-stdin (never on the command line)")
    password = sys.stdin.readline().rstrip("\r\n")
    if not password:
        fail("no password on standard input")
    return password


# -- accounts, keys, numbers, credits -----------------------------------------------------------------
@accounts_app.command("create")
def accounts_create(
    name: Annotated[str, typer.Argument(help="Account name.")],
    credits: Annotated[int, typer.Option(help="Opening credits.")] = 0,
    region: Annotated[str | None, typer.Option(help="Default region for national numbers, e.g. AU.")] = None,
    username: Annotated[
        str | None, typer.Option("--username", help="Dashboard sign-in name (with --password-stdin).")
    ] = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the dashboard password from standard input.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Create an account and its first API key (the secret is shown once); with --username and
    --password-stdin, also its dashboard sign-in (in the same transaction).

    Example: textgate accounts create acme --credits 1000 --region AU --json
    Example: echo "$PASSWORD" | textgate accounts create acme --username acme-admin --password-stdin
    """
    from textgate.service.accounts import create_account
    from textgate.service.users import set_login

    if (username is None) != (not password_stdin):
        fail("--username and --password-stdin go together: the sign-in needs both")
    password = read_password(True) if username is not None else None
    settings = Settings()

    def create(conn: Any) -> Any:
        made = create_account(
            conn, name, now=utcnow(), credits=credits, region=region or settings.default_region
        )
        if username is not None and password is not None:
            set_login(conn, made[0].id, username, password)
        return made

    account, key = in_tx(create)
    if as_json:
        created = {"account_id": account.id, "key_id": key.key_id, "secret": key.secret}
        emit_json(created if username is None else {**created, "username": username})
        return
    out.print(f"account [bold]{account.id}[/] ({account.name}, region {account.region}, {credits} credits)")
    out.print(f"key id  [bold]{key.key_id}[/]")
    out.print(f"secret  [bold]{key.secret}[/]  (shown once; store it now)")


@accounts_app.command("set")
def accounts_set(
    account: Annotated[str, typer.Argument(help="Account id or unique name.")],
    price_sms_part: Annotated[int | None, typer.Option(help="Credits per SMS part.")] = None,
    price_mms: Annotated[int | None, typer.Option(help="Credits per MMS.")] = None,
    region: Annotated[str | None, typer.Option(help="Default region for national numbers.")] = None,
    owned_senders_only: Annotated[
        bool | None,
        typer.Option(
            "--owned-senders-only/--any-sender",
            help="Refuse alphanumeric sender IDs (only the account's numbers) or allow them.",
        ),
    ] = None,
    unregistered_numbers: Annotated[
        bool | None,
        typer.Option(
            "--unregistered-numbers/--registered-numbers-only",
            help="Allow numeric senders no account has registered (another account's stay refused).",
        ),
    ] = None,
    status: Annotated[str | None, typer.Option(help="active or suspended.")] = None,
    setting: Annotated[
        list[str] | None,
        typer.Option(help="KEY=VALUE account setting (VALUE as JSON if it parses, else text; null removes)."),
    ] = None,
) -> None:
    """Change an account's prices, region, sender policy or status.

    Example: textgate accounts set acme --price-sms-part 2 --price-mms 5 --owned-senders-only
    """
    from textgate.service.accounts import find_account, update_account

    settings: dict[str, Any] = {}
    for item in setting or []:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            fail(f"--setting takes KEY=VALUE, not {item!r}")
        try:
            settings[key] = json.loads(raw)
        except ValueError:
            settings[key] = raw
    if unregistered_numbers is not None:
        settings["unregistered_senders"] = True if unregistered_numbers else None

    def _apply(conn: Connection) -> Any:
        return update_account(
            conn,
            find_account(conn, account).id,
            price_sms_part=price_sms_part,
            price_mms=price_mms,
            region=region,
            owned_senders_only=owned_senders_only,
            status=status,
            settings=settings or None,
        )

    updated = in_tx(_apply)
    unregistered = updated.settings.get("unregistered_senders")
    numbers_rule = "any unregistered number" if unregistered else "own numbers"
    senders = numbers_rule + ("" if updated.owned_senders_only else " and sender IDs")
    out.print(
        f"{updated.id}: region {updated.region}, {updated.prices.sms_part} credit(s) per SMS part, "
        f"{updated.prices.mms} per MMS, senders {senders}, {updated.status}"
    )


@accounts_app.command("list")
def accounts_list() -> None:
    """List accounts with their balances. Example: textgate accounts list"""
    from sqlalchemy import select

    from textgate.store.schema import accounts

    rows = in_tx(lambda c: c.execute(select(accounts).order_by(accounts.c.created_at)).all())
    table = Table("id", "name", "region", "credits", "status")
    for r in rows:
        table.add_row(r.id, r.name, r.region, str(r.balance), r.status)
    out.print(table)


BESTSMS_ANSWERS_HELP = (
    "How /bestsms/send answers requests made with this key: json (default) "
    '{"Result": "Success", "MessageID": ...}, or plain: the BestSMS document\'s plain answers, '
    "200 'OK Thanks' and 400 with the error reason as text (401/403 keep their status)."
)


@keys_app.command("create")
def keys_create(
    account: Annotated[str, typer.Argument(help="Account id or unique name.")],
    name: Annotated[
        str | None, typer.Option(help="A unique name for the key, e.g. api@department01.co.")
    ] = None,
    bestsms_answers: Annotated[
        str | None, typer.Option("--bestsms-answers", metavar="json|plain", help=BESTSMS_ANSWERS_HELP)
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Create another API key for an account.

    Example: textgate keys create acme --name api@acme.example
    Example: textgate keys create acme --name api@acme.example --bestsms-answers plain
    """
    from textgate.service.accounts import create_key, find_account

    options = {"bestsms_answers": bestsms_answers} if bestsms_answers is not None else None
    key = in_tx(
        lambda c: create_key(c, find_account(c, account).id, now=utcnow(), name=name, options=options)
    )
    if as_json:
        emit_json(
            {"key_id": key.key_id, "secret": key.secret, "name": key.name, "options": key.options or {}}
        )
        return
    out.print(f"key id  [bold]{key.key_id}[/]" + (f"  name {key.name}" if key.name else ""))
    out.print(f"secret  [bold]{key.secret}[/]  (shown once; store it now)")
    if key.options:
        out.print("options " + ", ".join(f"{k}={v}" for k, v in sorted(key.options.items())))


@keys_app.command("set")
def keys_set(
    key_id: Annotated[str, typer.Argument(help="The key id to change.")],
    bestsms_answers: Annotated[
        str | None, typer.Option("--bestsms-answers", metavar="json|plain", help=BESTSMS_ANSWERS_HELP)
    ] = None,
) -> None:
    """Change an API key's options. Example: textgate keys set key_AbC123 --bestsms-answers plain"""
    from textgate.service.accounts import set_key_options

    if bestsms_answers is None:
        fail("nothing to change: give --bestsms-answers")
    options = in_tx(lambda c: set_key_options(c, key_id, {"bestsms_answers": bestsms_answers}))
    shown = ", ".join(f"{k}={v}" for k, v in sorted((options or {}).items())) or "defaults"
    out.print(f"{key_id}: {shown}")


@keys_app.command("revoke")
def keys_revoke(key_id: Annotated[str, typer.Argument(help="The key id to revoke.")]) -> None:
    """Revoke an API key at once. Example: textgate keys revoke key_AbC123"""
    from textgate.service.accounts import revoke_key

    in_tx(lambda c: revoke_key(c, key_id, now=utcnow()))
    out.print(f"revoked {key_id}")


@numbers_app.command("add")
def numbers_add(
    account: Annotated[str, typer.Argument(help="Account id or unique name.")],
    number: Annotated[str, typer.Argument(help="The number, E.164 or national in the account's region.")],
    inactive: Annotated[bool, typer.Option("--inactive", help="Add it in the inactive state.")] = False,
) -> None:
    """Assign a sender number to an account. Example: textgate numbers add acme +15551230001"""
    from textgate.service.accounts import add_number, find_account

    e164 = in_tx(
        lambda c: add_number(
            c, find_account(c, account), number, now=utcnow(), status="inactive" if inactive else "active"
        )
    )
    out.print(f"{e164} assigned to {account}")


@numbers_app.command("set-status")
def numbers_set_status(
    account: Annotated[str, typer.Argument(help="Account id or unique name.")],
    number: Annotated[str, typer.Argument(help="The number.")],
    status: Annotated[str, typer.Argument(help="active or inactive")],
) -> None:
    """Activate or deactivate a number. Example: textgate numbers set-status acme +15551230001 inactive"""
    from textgate.service.accounts import find_account, set_number_status

    in_tx(lambda c: set_number_status(c, find_account(c, account), number, status))
    out.print(f"{number} is {status}")


@credits_app.command("add", context_settings={"ignore_unknown_options": True})
def credits_add(
    account: Annotated[str, typer.Argument(help="Account id or unique name.")],
    amount: Annotated[int, typer.Argument(help="Credits to add (negative to take back).")],
    note: Annotated[str | None, typer.Option(help="Ledger note.")] = None,
) -> None:
    """Add credits to an account's ledger. Example: textgate credits add acme 500"""
    from textgate.service.accounts import add_credits, find_account

    balance = in_tx(lambda c: add_credits(c, find_account(c, account).id, amount, now=utcnow(), note=note))
    out.print(f"balance {balance}")


@credits_app.command("history")
def credits_history(
    account: Annotated[str, typer.Argument(help="Account id or unique name.")],
    limit: Annotated[int, typer.Option(help="How many entries (newest first).")] = 50,
    kind: Annotated[
        str | None, typer.Option(help="Only credit, debit, refund, transfer_in or transfer_out.")
    ] = None,
    cursor: Annotated[str | None, typer.Option(help="Continue after a page (its next_cursor).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """The account's credits ledger, newest first, with the balance after each entry.

    Example: textgate credits history acme --kind refund --limit 20
    """
    from textgate.service.accounts import find_account, ledger_history

    entries, nxt = in_tx(
        lambda c: ledger_history(c, find_account(c, account).id, limit=limit, cursor=cursor, kind=kind)
    )
    if as_json:
        emit_json({"data": entries, "next_cursor": nxt})
        return
    table = Table("at", "kind", Column("amount", justify="right"), Column("balance", justify="right"), "for")
    for e in entries:
        what = e["message_id"] or e["ref"] or ""
        note = f" {e['note']}" if e["note"] and not e["note"].startswith("refund:") else ""
        table.add_row(e["at"], e["kind"], f"{e['amount']:+d}", str(e["balance_after"]), what + note)
    out.print(table)
    if nxt:
        out.print(f"more: --cursor {nxt}")


@webhooks_app.command("worker")
def webhooks_worker(
    stdin_nudges: Annotated[
        bool, typer.Option("--stdin-nudges", hidden=True, help="Woken by bytes on stdin (set by serve).")
    ] = False,
) -> None:
    """Send due webhooks until stopped (SIGTERM or Ctrl-C); no API, no carriers.

    Extra senders for a busy gateway, on this host or another sharing its database. `serve` starts
    TEXTGATE_WEBHOOK_PROCESSES of them itself. Example: TEXTGATE_DATABASE_URL=... textgate webhooks worker
    """
    import asyncio
    import logging

    from textgate.store.db import make_engine
    from textgate.workers.senders import run_sender

    settings = Settings()
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    engine = make_engine(settings.database_url, synchronous=settings.sqlite_synchronous)
    tune_gc()
    try:
        import uvloop  # what uvicorn runs serve on; the sender's POSTs cost less CPU on it
    except ImportError:  # pragma: no cover - a platform without uvloop
        asyncio.run(run_sender(settings, engine, stdin_nudges=stdin_nudges))
    else:
        uvloop.run(run_sender(settings, engine, stdin_nudges=stdin_nudges))


@webhooks_app.command("add")
def webhooks_add(
    account: Annotated[str, typer.Argument(help="Account id or unique name.")],
    url: Annotated[str, typer.Argument(help="http(s) URL to deliver to.")],
    event: Annotated[
        list[str] | None,
        typer.Option(
            help="message.status or message.received; repeat for both (default: all the format carries)."
        ),
    ] = None,
    format: Annotated[
        str, typer.Option(help="standard, or a provider format such as textbetter_v2.")
    ] = "standard",
    number: Annotated[str | None, typer.Option(help="Only events about this number of the account.")] = None,
    option: Annotated[list[str] | None, typer.Option(help="KEY=VALUE format option; repeat.")] = None,
    status: Annotated[
        list[str] | None,
        typer.Option(help="Only message.status events for this status (e.g. delivered); repeat."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the endpoint as JSON.")] = False,
) -> None:
    """Add an endpoint, e.g. forward one number's inbound messages in TextBetter's v2 shape.

    Example: textgate webhooks add acme https://example.com/sms --event message.received
    --format textbetter_v2 --number +15551230001
    """
    from textgate.domain.phone import normalize_number
    from textgate.service.accounts import find_account
    from textgate.webhooks.endpoints import create_endpoint
    from textgate.webhooks.formats import default_events

    options: dict[str, Any] = {}
    for item in option or []:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            fail(f"--option takes KEY=VALUE, not {item!r}")
        options[key] = raw
    settings = Settings()

    def _add(conn: Connection) -> dict[str, Any]:
        acc = find_account(conn, account)
        return create_endpoint(
            conn,
            acc.id,
            url,
            event or default_events(format),
            now=utcnow(),
            allow_private=settings.allow_private_urls,
            format=format,
            number=normalize_number(number, region=acc.region, field="number") if number else None,
            options=options or None,
            statuses=status or None,
        )

    endpoint = in_tx(_add)
    if as_json:
        emit_json(endpoint)
    else:
        out.print(f"endpoint {endpoint['id']} ({endpoint['format']}) → {endpoint['url']}")
        out.print(f"signing secret [bold]{endpoint['secret']}[/]")


@webhooks_app.command("list")
def webhooks_list(
    account: Annotated[str, typer.Argument(help="Account id or unique name.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the endpoints as JSON.")] = False,
) -> None:
    """The account's webhook endpoints (secrets not shown). Example: textgate webhooks list acme"""
    from textgate.service.accounts import find_account
    from textgate.webhooks.endpoints import list_endpoints

    found = in_tx(lambda conn: list_endpoints(conn, find_account(conn, account).id))
    if as_json:
        emit_json(found)
        return
    table = Table("id", "url", "format", "events", "number", "statuses")
    for ep in found:
        statuses = ", ".join(ep.get("statuses") or []) or "all"
        table.add_row(
            ep["id"], ep["url"], ep["format"], ", ".join(ep["events"]), ep["number"] or "", statuses
        )
    out.print(table)


@webhooks_app.command("remove")
def webhooks_remove(
    account: Annotated[str, typer.Argument(help="Account id or unique name.")],
    endpoint_id: Annotated[str, typer.Argument(help="The endpoint's id (wh_...), from webhooks list.")],
) -> None:
    """Delete an endpoint; its pending deliveries end as failed.

    Example: textgate webhooks remove acme wh_...
    """
    from textgate.service.accounts import find_account
    from textgate.webhooks.endpoints import delete_endpoint

    in_tx(lambda conn: delete_endpoint(conn, find_account(conn, account).id, endpoint_id, utcnow()))
    out.print(f"endpoint {endpoint_id} removed")


# -- simulate ---------------------------------------------------------------------------------------
@simulate_app.command("inbound")
def simulate_inbound(
    text: Annotated[str, typer.Argument(help="The message text.")],
    from_: Annotated[str, typer.Option("--from", help="The handset's number.")],
    to: Annotated[str, typer.Option("--to", help="An owned number.")],
    media: Annotated[
        list[Path] | None,
        typer.Option(
            "--media",
            metavar="FILE",
            help="A file to attach (repeatable): its type comes from its name (.jpg: image/jpeg).",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the stored message as JSON.")] = False,
) -> None:
    """Deliver an inbound message to an owned number, as if the carrier had.

    Example: textgate simulate inbound --from +61421000001 --to +15551230001 "hello"
    Example: textgate simulate inbound --from +61421000001 --to +15551230001 --media photo.jpg "look"
    """
    import mimetypes

    from textgate.service.inbound import receive_inbound

    files: list[tuple[bytes, str, str | None]] = []
    for path in media or []:
        try:
            data = path.read_bytes()
        except OSError as exc:
            fail(f"--media {path}: {exc.strerror or exc}")
        if not data:
            fail(f"--media {path}: the file is empty")
        ctype = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        files.append((data, ctype, path.name))
    view = in_tx(
        lambda c: receive_inbound(
            c, from_addr=from_, to_addr=to, body=text, now=utcnow(), source="simulator", files=files
        )
    )
    if as_json:
        emit_json(view)
    else:
        out.print(f"received {view['id']} from {view['from']} to {view['to']}")
        for item in view["media"]:
            out.print(
                f"  media {item['id']}: {item['filename']} ({item['content_type']}, {item['size']} bytes)"
            )


# -- API clients ------------------------------------------------------------------------------------
def _client() -> httpx.Client:
    url = os.environ.get("TEXTGATE_URL", "http://127.0.0.1:8080")
    key = os.environ.get("TEXTGATE_API_KEY")
    if not key:
        fail("set TEXTGATE_API_KEY to an API secret (and TEXTGATE_URL if not http://127.0.0.1:8080)")
    return httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=30)


def _call(method: str, path: str, **kwargs: Any) -> Any:
    try:
        with _client() as client:
            response = client.request(method, path, **kwargs)
    except httpx.HTTPError as exc:
        fail(f"cannot reach the gateway: {exc}")
    if response.status_code >= 400:
        try:
            e = response.json()["error"]
            field = f" ({e['field']})" if e.get("field") else ""
            fail(f"{e['code']}: {e['message']}{field}")
        except (ValueError, KeyError, TypeError):
            fail(f"HTTP {response.status_code}: {response.text[:200]}")
    return response.json()


def _messages_table(rows: list[dict[str, Any]]) -> Table:
    table = Table(
        Column("id", no_wrap=True),
        "dir",
        Column("from", no_wrap=True),
        Column("to", no_wrap=True),
        Column("status", no_wrap=True),
        "parts",
        Column("created", no_wrap=True),
        "body",
    )
    for m in rows:
        body = m["body"] if len(m["body"]) <= 40 else m["body"][:39] + "…"
        table.add_row(
            m["id"],
            m["direction"][:3],
            m["from"],
            m["to"],
            m["status"],
            str(m["segments"]),
            m["created_at"],
            body,
        )
    return table


@app.command()
def send(
    text: Annotated[str, typer.Argument(help="The message text.")],
    from_: Annotated[str, typer.Option("--from", help="Sender number or alphanumeric ID.")],
    to: Annotated[list[str], typer.Option("--to", help="Recipient; repeat for several.")],
    idempotency_key: Annotated[str | None, typer.Option(help="Idempotency-Key header.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the API answer as JSON.")] = False,
) -> None:
    """Send a message through the running gateway.

    Example: TEXTGATE_API_KEY=tgs_... textgate send --from +15551230001 --to +15550000001 "hello"
    """
    headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
    body = {"from": from_, "to": to if len(to) > 1 else to[0], "body": text}
    result = _call("POST", "/v1/messages", json=body, headers=headers)
    if as_json:
        emit_json(result)
    else:
        out.print(_messages_table(result["messages"]))


@messages_app.command("list")
def messages_list(
    status: Annotated[str | None, typer.Option(help="Filter by status.")] = None,
    direction: Annotated[str | None, typer.Option(help="inbound or outbound.")] = None,
    limit: Annotated[int, typer.Option(help="How many.")] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List recent messages. Example: textgate messages list --status delivered"""
    params: dict[str, Any] = {"limit": limit}
    if status:
        params["status"] = status
    if direction:
        params["direction"] = direction
    result = _call("GET", "/v1/messages", params=params)
    if as_json:
        emit_json(result)
    else:
        out.print(_messages_table(result["data"]))


@messages_app.command("cancel")
def messages_cancel(
    message_id: Annotated[str, typer.Argument(help="Message id.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Cancel a scheduled (or still waiting) message; its credits come back.

    Example: TEXTGATE_API_KEY=tgs_... textgate messages cancel msg_...
    """
    message = _call("DELETE", f"/v1/messages/{message_id}")
    if as_json:
        emit_json(message)
    else:
        out.print(f"{message['id']}: {message['status']}, {message['credits']} credit(s) refunded")


@messages_app.command("show")
def messages_show(
    message_id: Annotated[str, typer.Argument(help="Message id.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """One message and its timeline. Example: textgate messages show msg_..."""
    message = _call("GET", f"/v1/messages/{message_id}")
    events = _call("GET", f"/v1/messages/{message_id}/events")["data"]
    if as_json:
        emit_json({**message, "events": events})
        return
    table = Table("field", "value", show_header=False)
    for key in (
        "id",
        "direction",
        "from",
        "to",
        "status",
        "encoding",
        "segments",
        "credits",
        "error_code",
        "error_message",
        "client_ref",
        "created_at",
        "sent_at",
        "delivered_at",
        "body",
    ):
        value = message.get(key)
        table.add_row(key, "" if value is None else str(value))
    out.print(table)
    timeline = Table("at", "status", "source", "error")
    for e in events:
        timeline.add_row(e["at"], e["status"], e["source"], e.get("error_code") or "")
    out.print(timeline)


def main() -> None:
    app()


# The platform's commands (contacts, reports, users, ...) register themselves onto ``app``.
import textgate.cli_dashboard  # noqa: E402  - ``operators``, ``accounts set-login``
import textgate.cli_platform  # noqa: E402
import textgate.cli_routes  # noqa: E402, F401  - ``routes list``
