"""The native REST API, ``/v1``: sending, reading messages and timelines, the account."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Connection

from textgate.api.deps import CurrentAccount, CurrentCredentials, now_of, run_db
from textgate.api.responses import FastJSONResponse
from textgate.api.sending import accept_send
from textgate.domain.clock import checked_instant
from textgate.domain.errors import ValidationError
from textgate.domain.message import Direction, MessageStatus
from textgate.domain.phone import parse_sender
from textgate.service.accounts import balance
from textgate.service.messages import (
    content_disposition,
    get_media,
    get_message,
    list_messages,
    message_events_view,
)
from textgate.service.send import (
    Idempotency,
    MediaInput,
    SendRequest,
    request_fingerprint,
)
from textgate.service.status import cancel_message

router = APIRouter(prefix="/v1", tags=["messages"])


class MediaItem(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: str | None = Field(default=None, max_length=2000, description="An http(s) URL the carrier fetches.")
    content_base64: str | None = Field(default=None, description="The file itself, base64-encoded.")
    content_type: str | None = Field(default=None, max_length=100, examples=["image/jpeg"])
    filename: str | None = Field(default=None, max_length=255)


class SendBody(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    from_: str = Field(alias="from", max_length=64, examples=["+15551230001"])
    to: str | list[str] = Field(examples=["+15550000001"], description="One number or a list of up to 100.")
    body: str = Field(default="", examples=["Your code is 482910"])
    media: list[MediaItem] = Field(default_factory=list)
    schedule_at: datetime | None = Field(default=None, description="RFC 3339; send no earlier than this.")
    validity_period: int | None = Field(default=None, description="Seconds the message may wait to be sent.")
    client_ref: str | None = Field(default=None, max_length=200)


class MessageList(BaseModel):
    data: list[dict[str, Any]]
    next_cursor: str | None


@router.post("/messages", status_code=202, summary="Send an SMS or MMS to one or more recipients")
async def create_messages(
    payload: SendBody,
    request: Request,
    creds: CurrentCredentials,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key", max_length=255)] = None,
) -> FastJSONResponse:
    req = SendRequest(
        sender=payload.from_,
        to=[payload.to] if isinstance(payload.to, str) else list(payload.to),
        body=payload.body,
        media=[MediaInput(**m.model_dump()) for m in payload.media],
        schedule_at=payload.schedule_at,
        validity_seconds=payload.validity_period,
        client_ref=payload.client_ref,
        source="api",
    )
    idem = None
    if idempotency_key:
        idem = Idempotency(
            scope="v1.messages",
            key=idempotency_key,
            request_hash=request_fingerprint(payload.model_dump_json(by_alias=True).encode()),
        )
    result = await accept_send(request, creds.authenticate, req, idem)
    headers = {"Idempotent-Replayed": "true"} if result.replayed else None
    return FastJSONResponse(result.body, status_code=result.status_code, headers=headers)


@router.get("/messages", summary="List messages, newest first")
async def get_messages(
    request: Request,
    account: CurrentAccount,
    direction: Direction | None = None,
    status: MessageStatus | None = None,
    from_: Annotated[str | None, Query(alias="from")] = None,
    to: str | None = None,
    created_after: datetime | None = None,
    created_before: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: str | None = None,
) -> MessageList:
    for name, value in (("created_after", created_after), ("created_before", created_before)):
        if value is not None and value.tzinfo is None:
            raise ValidationError(f"{name} must carry a time zone (RFC 3339, e.g. ...Z)", field=name)
        if value is not None:
            checked_instant(value, name)
    # Filters accept numbers in any form a send does; a sender ID is matched as written.
    from_addr = parse_sender(from_, region=account.region, field="from").value if from_ else None
    to_addr = parse_sender(to, region=account.region, field="to").value if to else None

    def _list(conn: Connection) -> tuple[list[dict[str, Any]], str | None]:
        return list_messages(
            conn,
            account.id,
            direction=direction.value if direction else None,
            status=status.value if status else None,
            from_addr=from_addr,
            to_addr=to_addr,
            created_after=created_after,
            created_before=created_before,
            limit=limit,
            cursor=cursor,
        )

    data, next_cursor = await run_db(request, _list)
    return MessageList(data=data, next_cursor=next_cursor)


@router.get("/messages/{message_id}", summary="One message with its current status")
async def get_one_message(message_id: str, request: Request, account: CurrentAccount) -> dict[str, Any]:
    return await run_db(request, lambda conn: get_message(conn, account.id, message_id))


@router.delete(
    "/messages/{message_id}",
    summary="Cancel a message not yet sent (scheduled or waiting), refunding its credits",
    responses={404: {"description": "No such message on this account"}, 409: {"description": "Already sent"}},
)
async def cancel_one_message(message_id: str, request: Request, account: CurrentAccount) -> dict[str, Any]:
    """A scheduled message, or one still waiting in the queue, becomes ``canceled`` and its credits are
    given back (one refund in the ledger); a ``message.status`` webhook announces it. Once the dispatcher
    has taken the message (``sending``) or a carrier has seen it, the answer is 409 with its status."""
    now = now_of(request)
    return await run_db(request, lambda conn: cancel_message(conn, account.id, message_id, now=now))


@router.get("/messages/{message_id}/events", summary="A message's timeline")
async def get_message_events(message_id: str, request: Request, account: CurrentAccount) -> dict[str, Any]:
    events = await run_db(request, lambda conn: message_events_view(conn, account.id, message_id))
    return {"data": events}


@router.get(
    "/media/{media_id}",
    summary="Download an attachment: an upload or an inbound MMS's file",
    response_class=Response,
    responses={200: {"content": {"application/octet-stream": {}}}, 404: {"description": "No such media"}},
)
async def download_media(media_id: str, request: Request, account: CurrentAccount) -> Response:
    """The bytes of a media item of this account's messages (``media[].id`` in a message), with its
    content type and filename. Always served as an attachment (``Content-Disposition: attachment``,
    ``nosniff``, a sandboxing Content-Security-Policy), so an uploaded HTML or SVG file never runs as a
    page of the gateway. ``ETag`` is the file's SHA-256."""
    item = await run_db(request, lambda conn: get_media(conn, account.id, media_id))
    etag = f'"{item["sha256"]}"'
    headers = {
        "ETag": etag,
        "Cache-Control": "private, max-age=86400",
        "Content-Disposition": content_disposition(item["filename"] or media_id),
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'none'; sandbox",
    }
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    return Response(item["data"], media_type=item["content_type"], headers=headers)


class AccountView(BaseModel):
    id: str
    name: str
    credits: int
    region: str
    status: Literal["active", "suspended"] | str


@router.get("/account", tags=["account"], summary="The authenticated account and its credits")
async def get_account_view(request: Request, account: CurrentAccount) -> AccountView:
    credits = await run_db(request, lambda conn: balance(conn, account.id))
    return AccountView(
        id=account.id, name=account.name, credits=credits, region=account.region, status=account.status
    )
