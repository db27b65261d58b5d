"""``/v1/bulk-sends`` (one message to a whole group or list) and ``/v1/blocklist``.

Design choices:

* A bulk send names exactly one target, ``group`` or ``list``, by id or exact name; naming both or
  neither is a 422 naming ``group``. Accepting it is one short transaction whatever the size of the
  target (:mod:`textgate.service.bulk`): the answer is 202 with the send's progress view, and
  ``GET /v1/bulk-sends/{id}`` shows it advancing as the bulk worker expands it into messages.
* Per-recipient results are the send's messages, in the same view as ``/v1/messages``, paged by id.
* The blocklist stores numbers in E.164; adding a number twice keeps the first entry (and its note), so
  a retried request is harmless.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Connection, select

from textgate.api.contacts import page
from textgate.api.deps import CurrentAccount, now_of, run_db
from textgate.domain.clock import isoformat
from textgate.domain.errors import NotFound, ValidationError
from textgate.service import bulk as svc
from textgate.service.contacts import plausible_id
from textgate.service.messages import message_view
from textgate.service.policy import block_number, blocklist, unblock_number
from textgate.service.send import SendRequest
from textgate.store.schema import blocked_numbers

router = APIRouter(prefix="/v1", tags=["bulk sends"])


class CreateBulkSend(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    from_: str = Field(alias="from", max_length=64, examples=["+15551230001"])
    body: str = Field(examples=["Our March offer: 20% off with code MARCH"])
    group: str | None = Field(default=None, max_length=200, description="A group's id or name.")
    list: str | None = Field(default=None, max_length=200, description="A distribution list's id or name.")
    schedule_at: datetime | None = Field(default=None, description="RFC 3339; send no earlier than this.")
    validity_period: int | None = Field(default=None, description="Seconds the messages may wait to be sent.")
    client_ref: str | None = Field(default=None, max_length=200)


class BlockBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    number: str = Field(max_length=64, examples=["+15550000001"])
    note: str | None = Field(default=None, max_length=200, examples=["asked not to be texted"])


def _check_id(bulk_id: str) -> None:
    if not plausible_id(bulk_id):
        raise NotFound(f"bulk send {bulk_id[:40]!r} not found", field="bulk_send")


@router.post("/bulk-sends", status_code=202, summary="Send one message to every member of a group or list")
async def create_bulk_send(body: CreateBulkSend, request: Request, account: CurrentAccount) -> dict[str, Any]:
    if (body.group is None) == (body.list is None):
        raise RequestValidationError(
            [{"type": "value_error", "loc": ("body", "group"), "msg": "give exactly one of group or list"}]
        )
    kind, target = ("group", body.group) if body.group is not None else ("list", body.list)
    assert target is not None
    req = svc.BulkSendRequest(
        target_kind=kind,
        target=target,
        message=SendRequest(
            sender=body.from_,
            to=[],
            body=body.body,
            schedule_at=body.schedule_at,
            validity_seconds=body.validity_period,
            client_ref=body.client_ref,
            source="api",
        ),
    )
    now = now_of(request)
    accepted = await run_db(request, lambda conn: svc.accept_bulk_send(conn, account, req, now=now))
    gateway = getattr(request.app.state, "gateway", None)
    if gateway is not None:
        gateway.nudge(bulk=True)
    return accepted.view()


@router.get("/bulk-sends", summary="Recent bulk sends, newest first")
async def list_bulk_sends(
    request: Request, account: CurrentAccount, limit: Annotated[int, Query(ge=1, le=200)] = 50
) -> dict[str, Any]:
    found = await run_db(request, lambda conn: svc.list_bulk_sends(conn, account, limit=limit))
    return {"data": [b.view() for b in found]}


@router.get("/bulk-sends/{bulk_id}", summary="A bulk send and its progress")
async def get_bulk_send(bulk_id: str, request: Request, account: CurrentAccount) -> dict[str, Any]:
    _check_id(bulk_id)
    return await run_db(request, lambda conn: svc.get_bulk_send(conn, account, bulk_id).view())


@router.get("/bulk-sends/{bulk_id}/messages", summary="Per-recipient results: the send's messages (paged)")
async def bulk_send_messages(
    bulk_id: str,
    request: Request,
    account: CurrentAccount,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> dict[str, Any]:
    _check_id(bulk_id)
    if cursor is not None and not plausible_id(cursor):
        raise ValidationError("cursor is not one this API returned", field="cursor")

    def _list(conn: Connection) -> dict[str, Any]:
        rows, nxt = svc.bulk_messages(conn, account, bulk_id, limit=limit, after=cursor)
        return page([message_view(dict(r._mapping)) for r in rows], nxt)

    return await run_db(request, _list)


# -- blocklist -----------------------------------------------------------------------------------------
def _entry(item: dict[str, Any]) -> dict[str, Any]:
    created = item["created_at"]
    return {**item, "created_at": isoformat(created) if isinstance(created, datetime) else created}


@router.get("/blocklist", tags=["blocklist"], summary="Numbers this account never sends to")
async def get_blocklist(request: Request, account: CurrentAccount) -> dict[str, Any]:
    items = await run_db(request, lambda conn: blocklist(conn, account))
    return {"data": [_entry(i) for i in items]}


@router.post("/blocklist", status_code=201, tags=["blocklist"], summary="Block a number")
async def add_to_blocklist(body: BlockBody, request: Request, account: CurrentAccount) -> dict[str, Any]:
    now = now_of(request)

    def _add(conn: Connection) -> dict[str, Any]:
        e164 = block_number(conn, account, body.number, now=now, note=body.note)
        row = conn.execute(
            select(blocked_numbers.c.number, blocked_numbers.c.note, blocked_numbers.c.created_at).where(
                blocked_numbers.c.account_id == account.id, blocked_numbers.c.number == e164
            )
        ).one()
        return _entry(dict(row._mapping))

    return await run_db(request, _add)


@router.delete(
    "/blocklist/{number}", status_code=204, response_class=Response, tags=["blocklist"], summary="Unblock"
)
async def remove_from_blocklist(number: str, request: Request, account: CurrentAccount) -> Response:
    await run_db(request, lambda conn: unblock_number(conn, account, number))
    return Response(status_code=204)
