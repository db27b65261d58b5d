"""TextBetter's shapes on the wire: the v2 answer body and the two inbound-message formats.

Why here and not in the routes: the inbound formats are discovered by textgate's webhook machinery from
this module's :data:`FORMATS` (an endpoint with ``format = "textbetter_v2"`` or ``"textbetter_v1"``), and
they render inside the transaction that records the inbound message, long after any request.

* ``textbetter_v2`` — a JSON POST ``{"id", "to", "from", "timestamp", "type", "text"}`` plus ``images``
  (``[{"Base64", "type"}]``) for MMS only, exactly the keys of TextBetter's two examples. ``id`` is
  textgate's message id (``msg_...``), the same id the native API and the v2 send answer use;
  ``timestamp`` is when textgate received the message, in Unix seconds; numbers are digits only. Media
  content is read from ``media_objects`` and sent inline as base64; an attachment textgate holds only as
  a URL (no stored content) is sent as ``{"Base64": "", "type": ..., "url": ...}`` so it is not lost.
* ``textbetter_v1`` — a GET to the endpoint URL with ``?From=&To=&Message=`` (digits-only numbers). v1
  cannot carry media: an MMS is delivered with its text only (possibly empty).

Both render ``message.received`` only; status events are skipped (TextBetter has no delivery reports).
"""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import select

from textgate.store.schema import media_objects, messages
from textgate.webhooks.formats import Endpoint, RenderContext, Rendered, Renderer

#: The one error text TextBetter documents; textgate answers it for every credential or sender mismatch.
INVALID_COMBINATION = "Invalid Company/KEY/DID combination"
VALID_MESSAGE = "Valid Message"
#: v1's whole success body; clients compare the body with it.
V1_SUCCESS = "Success!"


def v2_body(message: str, carrier_id: str = "0", record_id: str = "0") -> dict[str, str]:
    """The v2 answer: the same three string fields on success (201) and error (400)."""
    return {"message": message, "CarrierID": carrier_id, "RecordID": record_id}


def digits(address: str | None) -> str:
    """TextBetter's number form: E.164 without the ``+`` (an alphanumeric sender passes unchanged)."""
    return (address or "").removeprefix("+")


def _timestamp(data: dict[str, Any], ctx: RenderContext) -> int:
    created = data.get("created_at")
    if isinstance(created, str):
        try:
            return int(datetime.fromisoformat(created).timestamp())
        except ValueError:
            pass
    return int(ctx.now.timestamp())


def _images(data: dict[str, Any], endpoint: Endpoint, ctx: RenderContext) -> list[dict[str, str]]:
    """The message's attachments with their content. The event carries only the public media view
    (names, types, sizes), so the stored references are read from the message row."""
    refs = ctx.conn.execute(
        select(messages.c.media).where(
            messages.c.id == data["id"], messages.c.account_id == endpoint.account_id
        )
    ).scalar_one_or_none()
    out: list[dict[str, str]] = []
    for ref in refs or []:
        media_id = ref.get("media_id")
        row = None
        if media_id:
            row = ctx.conn.execute(
                select(media_objects.c.data, media_objects.c.content_type).where(
                    media_objects.c.id == media_id, media_objects.c.account_id == endpoint.account_id
                )
            ).first()
        if row is not None:
            out.append({"Base64": base64.b64encode(bytes(row.data)).decode(), "type": row.content_type})
        else:
            item = {"Base64": "", "type": str(ref.get("content_type") or "")}
            if ref.get("url"):
                item["url"] = str(ref["url"])
            out.append(item)
    return out


def render_v2(
    event_type: str, data: dict[str, Any], endpoint: Endpoint, ctx: RenderContext
) -> Rendered | None:
    if event_type != "message.received":
        return None
    is_mms = data.get("type") == "mms"
    event: dict[str, Any] = {
        "id": data["id"],
        "to": digits(data.get("to")),
        "from": digits(data.get("from")),
        "timestamp": _timestamp(data, ctx),
        "type": "MMS" if is_mms else "SMS",
        "text": data.get("body") or "",
    }
    if is_mms:
        event["images"] = _images(data, endpoint, ctx)
    return Rendered(body=orjson.dumps(event).decode())


def render_v1(
    event_type: str, data: dict[str, Any], _endpoint: Endpoint, _ctx: RenderContext
) -> Rendered | None:
    if event_type != "message.received":
        return None
    query = {
        "From": digits(data.get("from")),
        "To": digits(data.get("to")),
        "Message": data.get("body") or "",
    }
    return Rendered(body="", method="GET", content_type=None, query=query)


FORMATS: dict[str, Renderer] = {"textbetter_v2": render_v2, "textbetter_v1": render_v1}
#: TextBetter's formats carry inbound messages only: an endpoint for other events would never fire.
FORMAT_EVENTS: dict[str, frozenset[str]] = {name: frozenset({"message.received"}) for name in FORMATS}
