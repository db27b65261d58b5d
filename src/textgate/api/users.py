"""``/v1/users`` and ``/v1/credits/transfers``: sub-accounts and the credits moved to and from them.

Tenancy and permissions are the service's (:mod:`textgate.service.users`): a parent sees only its direct
children, anyone else's user is 404, and creating or changing users or moving credits needs an admin
account (403 ``permission_denied`` otherwise). Issuing a key for a child is held to the same rule here.

A user's view never carries its password hash (the :class:`Account` value does not even hold one); an
API secret appears exactly once, in the answer that created it.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Connection

from textgate.api.contacts import page
from textgate.api.deps import CurrentAccount, now_of, run_db
from textgate.domain.clock import isoformat
from textgate.domain.errors import PermissionDenied, ValidationError
from textgate.service import users as svc
from textgate.service.accounts import Account, NewKey, balance, create_key, ledger_history
from textgate.service.contacts import plausible_id
from textgate.service.messages import decode_cursor

router = APIRouter(prefix="/v1", tags=["users"])


def user_view(account: Account, credits: int) -> dict[str, Any]:
    profile = account.profile or {}
    return {
        "id": account.id,
        "object": "user",
        "username": account.username,
        "name": account.name,
        "access_level": account.access_level,
        "status": account.status,
        "credits": credits,
        "first_name": profile.get("first_name"),
        "last_name": profile.get("last_name"),
        "email": profile.get("email"),
        "telephone": profile.get("telephone"),
        "credit_reminder": profile.get("credit_reminder"),
        "alert_days": profile.get("alert_days"),
        "parent_id": account.parent_id,
    }


def key_view(key: NewKey) -> dict[str, Any]:
    return {"id": key.key_id, "secret": key.secret, "name": key.name, "options": key.options or {}}


class NewUserKey(BaseModel):
    model_config = ConfigDict(extra="forbid")
    bestsms_answers: Literal["json", "plain"] | None = Field(
        default=None,
        description="How /bestsms/send answers this key: json (default) or plain ('OK Thanks', 400 reason).",
    )


def transfer_view(t: svc.Transfer) -> dict[str, Any]:
    return {
        "id": t.id,
        "object": "credit_transfer",
        "from": t.from_account_id,
        "to": t.to_account_id,
        "amount": t.amount,
        "note": t.note,
        "parent_balance": t.parent_balance,
        "child_balance": t.child_balance,
        "created_at": isoformat(t.created_at),
    }


def _view(conn: Connection, account: Account) -> dict[str, Any]:
    return user_view(account, balance(conn, account.id))


class CreateUser(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str = Field(max_length=100, examples=["dept01"], description="3-100 of A-Z a-z 0-9 . _ @ -")
    password: str = Field(max_length=svc.MAX_PASSWORD, description=f"At least {svc.MIN_PASSWORD} characters.")
    access_level: Literal["normal", "admin"] = Field(default="normal")
    first_name: str = Field(max_length=svc.MAX_NAME, examples=["Ada"])
    last_name: str = Field(max_length=svc.MAX_NAME, examples=["Lovelace"])
    email: str = Field(max_length=320, examples=["ada@example.com"])
    telephone: str | None = Field(default=None, max_length=64, examples=["+15550000001"])
    credits: int = Field(default=0, ge=0, description="Starting credits, transferred from your balance.")
    credit_reminder: int | None = Field(default=None, ge=0, description="Warn below this balance.")
    alert_days: int | None = Field(default=None, ge=0)


class UpdateUser(BaseModel):
    model_config = ConfigDict(extra="forbid")
    status: Literal["active", "suspended"] = Field(description="A suspended user's keys stop working.")


class CreateTransfer(BaseModel):
    model_config = ConfigDict(extra="forbid")
    user: str = Field(max_length=100, description="The child's account id or username.", examples=["dept01"])
    amount: int = Field(description="Credits to give the user; negative takes them back.", examples=[250])
    note: str | None = Field(default=None, max_length=svc.MAX_NOTE)


@router.get("/users", summary="Your users (direct sub-accounts), oldest first")
async def list_users(request: Request, account: CurrentAccount) -> dict[str, Any]:
    def _list(conn: Connection) -> dict[str, Any]:
        return {"data": [_view(conn, u) for u in svc.list_users(conn, account)]}

    return await run_db(request, _list)


@router.post("/users", status_code=201, summary="Create a user with its first API key (secret shown once)")
async def create_user(body: CreateUser, request: Request, account: CurrentAccount) -> dict[str, Any]:
    now = now_of(request)

    def _create(conn: Connection) -> dict[str, Any]:
        user, key = svc.create_user(conn, account, now=now, **body.model_dump())
        return {"user": _view(conn, user), "api_key": key_view(key)}

    return await run_db(request, _create)


@router.get("/users/{ref}", summary="One of your users, by id or username")
async def get_user(ref: str, request: Request, account: CurrentAccount) -> dict[str, Any]:
    return await run_db(request, lambda conn: _view(conn, svc.get_user(conn, account, ref)))


@router.patch("/users/{ref}", summary="Suspend or reactivate a user")
async def update_user(
    ref: str, body: UpdateUser, request: Request, account: CurrentAccount
) -> dict[str, Any]:
    def _update(conn: Connection) -> dict[str, Any]:
        return _view(conn, svc.set_user_status(conn, account, ref, body.status))

    return await run_db(request, _update)


@router.post("/users/{ref}/keys", status_code=201, summary="Issue another API key for a user")
async def create_user_key(
    ref: str, request: Request, account: CurrentAccount, body: NewUserKey | None = None
) -> dict[str, Any]:
    """The body is optional: ``{"bestsms_answers": "plain"}`` gives the key the BestSMS document's plain
    answers on ``/bestsms/send``."""
    now = now_of(request)
    if not account.is_admin:
        raise PermissionDenied("only admin users may issue keys for users", field="access_level")
    options = body.model_dump(exclude_none=True) if body is not None else None

    def _create(conn: Connection) -> dict[str, Any]:
        user = svc.get_user(conn, account, ref)
        return {"user_id": user.id, **key_view(create_key(conn, user.id, now=now, options=options))}

    return await run_db(request, _create)


@router.get("/credits/ledger", tags=["credits"], summary="The credits ledger, newest first")
async def credits_ledger(
    request: Request,
    account: CurrentAccount,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: Annotated[str | None, Query(max_length=40)] = None,
    kind: Annotated[str | None, Query(max_length=20, description="Only entries of this kind.")] = None,
) -> dict[str, Any]:
    """Every change of the balance: top-ups (``credit``), charges (``debit``), refunds, transfers to and
    from users; each with the balance after it and the message or transfer it belongs to."""

    def _list(conn: Connection) -> dict[str, Any]:
        entries, nxt = ledger_history(conn, account.id, limit=limit, cursor=cursor, kind=kind)
        return page(entries, nxt)

    return await run_db(request, _list)


@router.get("/credits/transfers", tags=["credits"], summary="Transfers to and from your users, newest first")
async def list_transfers(
    request: Request,
    account: CurrentAccount,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: Annotated[str | None, Query(max_length=400)] = None,
) -> dict[str, Any]:
    if cursor is not None and not plausible_id(decode_cursor(cursor)[1]):
        # Decodable but naming no transfer (e.g. a NUL inside, which PostgreSQL would refuse).
        raise ValidationError("cursor is not one this API returned", field="cursor")

    def _list(conn: Connection) -> dict[str, Any]:
        items, nxt = svc.list_transfers(conn, account, limit, cursor)
        return page([transfer_view(t) for t in items], nxt)

    return await run_db(request, _list)


@router.post(
    "/credits/transfers", status_code=201, tags=["credits"], summary="Move credits to or from a user"
)
async def create_transfer(body: CreateTransfer, request: Request, account: CurrentAccount) -> dict[str, Any]:
    now = now_of(request)

    def _move(conn: Connection) -> dict[str, Any]:
        return transfer_view(
            svc.transfer_credits(conn, account, body.user, body.amount, now=now, note=body.note)
        )

    return await run_db(request, _move)
