"""``/v1/webhooks``: an account registers endpoints, reads their delivery log and replays deliveries.

The routes are thin: validation and tenancy live in :mod:`textgate.webhooks.endpoints`, so the CLI and
the API behave the same. Secrets appear on create and on a single-endpoint read (the owner may need to
see one again), never in the list.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Connection

from textgate.api.deps import CurrentAccount, now_of, run_db
from textgate.config import Settings
from textgate.domain.phone import normalize_number
from textgate.webhooks import endpoints
from textgate.webhooks.formats import default_events
from textgate.webhooks.outbox import EVENT_TYPES

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])


class CreateWebhook(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(max_length=2000, description="http(s) URL that receives signed POSTs")
    events: list[str] | None = Field(
        default=None,
        description=f"event types to receive; any of {', '.join(EVENT_TYPES)} (default: every type the "
        "format carries; textbetter_v1, textbetter_v2 and textconnect carry message.received only)",
    )
    format: str = Field(
        default="standard",
        max_length=40,
        description="how events are rendered: standard (signed JSON) or a provider's format",
    )
    number: str | None = Field(
        default=None, max_length=32, description="only events about this number of the account (E.164)"
    )
    options: dict[str, Any] | None = Field(default=None, description="format-specific options")
    statuses: list[str] | None = Field(
        default=None,
        description="only message.status events for these statuses (any of sent, delivered, undelivered, "
        "failed, expired, rejected); default: all",
    )


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


@router.post("", status_code=201)
async def create_webhook(body: CreateWebhook, request: Request, account: CurrentAccount) -> dict[str, Any]:
    now = now_of(request)
    allow_private = _settings(request).allow_private_urls

    def _create(conn: Connection) -> dict[str, Any]:
        number = normalize_number(body.number, region=account.region, field="number") if body.number else None
        return endpoints.create_endpoint(
            conn,
            account.id,
            body.url,
            body.events if body.events is not None else default_events(body.format),
            now=now,
            allow_private=allow_private,
            format=body.format,
            number=number,
            options=body.options,
            statuses=body.statuses,
        )

    return await run_db(request, _create)


@router.get("")
async def list_webhooks(request: Request, account: CurrentAccount) -> dict[str, Any]:
    data = await run_db(request, lambda conn: endpoints.list_endpoints(conn, account.id))
    return {"data": data}


@router.get("/{endpoint_id}")
async def get_webhook(endpoint_id: str, request: Request, account: CurrentAccount) -> dict[str, Any]:
    return await run_db(request, lambda conn: endpoints.get_endpoint(conn, account.id, endpoint_id))


@router.delete("/{endpoint_id}", status_code=204, response_class=Response)
async def delete_webhook(endpoint_id: str, request: Request, account: CurrentAccount) -> Response:
    now = now_of(request)
    await run_db(request, lambda conn: endpoints.delete_endpoint(conn, account.id, endpoint_id, now))
    return Response(status_code=204)


@router.get("/{endpoint_id}/deliveries")
async def list_webhook_deliveries(
    endpoint_id: str,
    request: Request,
    account: CurrentAccount,
    limit: int = Query(50, ge=1, le=endpoints.MAX_DELIVERY_LIMIT),
) -> dict[str, Any]:
    data = await run_db(request, lambda conn: endpoints.list_deliveries(conn, account.id, endpoint_id, limit))
    return {"data": data}


@router.post("/deliveries/{delivery_id}/replay", status_code=202)
async def replay_webhook_delivery(
    delivery_id: str, request: Request, account: CurrentAccount
) -> dict[str, Any]:
    now = now_of(request)

    def _replay(conn: Connection) -> dict[str, Any]:
        return endpoints.replay_delivery(conn, account.id, delivery_id, now)

    return await run_db(request, _replay)
