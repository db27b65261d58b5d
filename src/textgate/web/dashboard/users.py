"""Users (sub-accounts), credit transfers and the credits ledger.

``/dashboard/users``: the account itself, its direct children (name, username, status, balance, messages
sent), creating a child (as Text-Connect's CreateUser and ``textgate users create`` do, its API secret
shown once), suspending one, moving credits to or from one, and the transfers history. Everything is
:mod:`textgate.service.users` with its checks (admin accounts only, own children only, no negative
balance). ``/dashboard/ledger``: ``GET /v1/credits/ledger`` with its cursor paging.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import RedirectResponse, Response

from textgate.api.deps import now_of, run_db
from textgate.api.users import transfer_view
from textgate.domain.errors import NotFound, TextgateError, ValidationError
from textgate.service import users as svc
from textgate.service.accounts import LEDGER_KINDS, balance, get_account, ledger_history
from textgate.service.dashboard_account import USAGE_DAYS, users_overview
from textgate.web.dashboard.common import (
    Page,
    account_of,
    page_of,
    router,
    scope_of,
)
from textgate.web.dashboard.forms import form_error, form_status, redirect_with_flash, render_with_flash

TRANSFERS_PAGE = 50
LEDGER_PAGE = 50
DONE = {
    "created": "User created.",
    "transferred": "Credits moved.",
    "suspended": "User suspended: its API keys and sign-in stop working.",
    "active": "User reactivated.",
}
_NEW_USER_FIELDS = ("username", "first_name", "last_name", "email", "telephone", "access_level", "credits")


async def _users_page(
    page: Page,
    account_id: str | None,
    *,
    done: str = "",
    cursor: str = "",
    refused: TextgateError | None = None,
    form: dict[str, str] | None = None,
    transfer: dict[str, str] | None = None,
) -> Response:
    data: dict[str, Any] = {"me": None, "users": [], "transfers": [], "next_cursor": None, "admin": False}
    now = now_of(page.request)
    if account_id:

        def read(conn: Any) -> dict[str, Any]:
            account = get_account(conn, account_id)
            shown = users_overview(conn, account, now=now)
            try:
                moves, nxt = svc.list_transfers(conn, account, TRANSFERS_PAGE, cursor or None)
            except ValidationError:
                moves, nxt = svc.list_transfers(conn, account, TRANSFERS_PAGE, None)
            names = {shown["me"]["id"]: f"{shown['me']['username'] or shown['me']['name']} (you)"}
            names.update({u["id"]: u["username"] or u["name"] for u in shown["users"]})
            if account.parent_id:
                names.setdefault(account.parent_id, "your parent account")
            rows = [
                {
                    **transfer_view(t),
                    "from_name": names.get(t.from_account_id, t.from_account_id),
                    "to_name": names.get(t.to_account_id, t.to_account_id),
                }
                for t in moves
            ]
            return {**shown, "transfers": rows, "next_cursor": nxt, "admin": account.is_admin}

        try:
            data = await run_db(page.request, read)
        except NotFound:
            return page.not_found(account_id)
    return render_with_flash(
        page,
        "users.html",
        flash="user" if done == "created" else None,  # the API secret is shown once
        status_code=form_status(refused) if refused else 200,
        account=account_id or "",
        done=DONE.get(done),
        error=form_error(refused) if refused else None,
        form=form or {"access_level": "normal", "credits": "0"},
        transfer=transfer or {"direction": "give"},
        usage_days=USAGE_DAYS,
        link=lambda path, **q: page.link(path, account_id, **q),
        **data,
    )


@router.get("/users")
async def users_page(request: Request, account: str = "", done: str = "", cursor: str = "") -> Response:
    page = await page_of(request)
    account_id = scope_of(page.viewer, account)
    return await _users_page(page, account_id, done=done, cursor=cursor)


def _whole(value: str, field: str) -> int:
    text = value.strip()
    if not text:
        return 0
    try:
        return int(text)
    except ValueError:
        raise ValidationError(f"{field} must be a whole number", field=field) from None


@router.post("/users")
async def create_user(request: Request) -> Response:
    page = await page_of(request)
    fields = await page.form()
    account_id = account_of(page.viewer, fields.get("account") or None)
    form = {k: fields.get(k, "").strip() for k in _NEW_USER_FIELDS}
    password = fields.get("password", "")
    now = now_of(request)
    try:
        credits = _whole(form["credits"], "credits")

        def create(conn: Any) -> tuple[Any, Any]:
            return svc.create_user(
                conn,
                get_account(conn, account_id),
                username=form["username"],
                password=password,
                access_level=form["access_level"] or "normal",
                first_name=form["first_name"],
                last_name=form["last_name"],
                email=form["email"],
                telephone=form["telephone"] or None,
                credits=credits,
                now=now,
            )

        user, key = await run_db(request, create)
    except TextgateError as exc:
        if isinstance(exc, NotFound) and exc.field != "user":
            return page.not_found(account_id)
        return await _users_page(page, account_id, refused=exc, form=form)
    return redirect_with_flash(
        page,
        page.link("/dashboard/users", account_id, done="created"),
        {
            "kind": "user",
            "id": user.id,
            "username": user.username,
            "key_id": key.key_id,
            "secret": key.secret,
        },
    )


@router.post("/users/transfer")
async def transfer(request: Request) -> Response:
    page = await page_of(request)
    fields = await page.form()
    account_id = account_of(page.viewer, fields.get("account") or None)
    form = {k: fields.get(k, "").strip() for k in ("user", "direction", "amount", "note")}
    now = now_of(request)
    try:
        if not form["user"]:
            raise ValidationError("user: choose the user to move credits to or from", field="user")
        amount = _whole(form["amount"], "amount")
        if amount <= 0:
            raise ValidationError("amount must be a whole number of credits above zero", field="amount")
        if form["direction"] not in ("give", "take"):
            raise ValidationError("direction must be give or take", field="direction")
        signed = amount if form["direction"] == "give" else -amount

        def move(conn: Any) -> svc.Transfer:
            parent = get_account(conn, account_id)
            return svc.transfer_credits(
                conn, parent, form["user"], signed, now=now, note=form["note"] or None
            )

        await run_db(request, move)
    except TextgateError as exc:
        if isinstance(exc, NotFound) and exc.field != "user":
            return page.not_found(account_id)
        return await _users_page(page, account_id, refused=exc, transfer=form)
    return RedirectResponse(page.link("/dashboard/users", account_id, done="transferred"), 303)


@router.post("/users/{user_id}/status")
async def set_status(request: Request, user_id: str) -> Response:
    page = await page_of(request)
    fields = await page.form()
    account_id = account_of(page.viewer, fields.get("account") or None)
    status = fields.get("status", "")
    try:
        await run_db(
            request, lambda conn: svc.set_user_status(conn, get_account(conn, account_id), user_id, status)
        )
    except NotFound:
        return page.not_found(user_id)
    except TextgateError as exc:
        return await _users_page(page, account_id, refused=exc)
    return RedirectResponse(page.link("/dashboard/users", account_id, done=status), 303)


@router.get("/ledger")
async def ledger_page(request: Request, account: str = "", cursor: str = "", kind: str = "") -> Response:
    page = await page_of(request)
    account_id = scope_of(page.viewer, account)
    entries: list[dict[str, Any]] = []
    next_cursor = None
    error = None
    current = None
    if account_id:

        def read(conn: Any) -> tuple[int, list[dict[str, Any]], str | None]:
            get_account(conn, account_id)
            found, nxt = ledger_history(
                conn, account_id, limit=LEDGER_PAGE, cursor=cursor or None, kind=kind or None
            )
            return balance(conn, account_id), found, nxt

        try:
            current, entries, next_cursor = await run_db(request, read)
        except NotFound:
            return page.not_found(account_id)
        except TextgateError as exc:
            error = form_error(exc)
    next_url = (
        page.link("/dashboard/ledger", account_id, kind=kind, cursor=next_cursor) if next_cursor else None
    )
    return page.render(
        "ledger.html",
        status_code=400 if error else 200,
        account=account_id or "",
        entries=entries,
        balance=current,
        kind=kind,
        kinds=LEDGER_KINDS,
        next_url=next_url,
        error=error,
        link=lambda path, **q: page.link(path, account_id, **q),
    )
