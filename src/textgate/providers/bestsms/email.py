"""BestSMS's two email features, as formats of textgate's outbox (mail goes to the SMTP relay configured
with ``TEXTGATE_SMTP_HOST``; durable, retried and recorded like every delivery):

* ``bestsms_email`` — delivery reports as an HTML email, an account option: ``textgate webhooks add ACCOUNT
  mailto:reports@example.com --format bestsms_email``. The table holds the same fields as the webhook.
* ``bestsms_email_reply`` — replies to a message sent with ``SMSEmailReply=address`` are emailed to that
  address. The send creates this endpoint for the account the first time it is needed (its URL is the
  first address used; every reply goes to the address given with the message it answers).
"""

from __future__ import annotations

import logging
from datetime import datetime
from html import escape
from typing import Any

from sqlalchemy import Connection, select

from textgate.providers.bestsms import settings as opts
from textgate.providers.bestsms.threads import message_row, thread_of
from textgate.service.accounts import get_account
from textgate.store.schema import webhook_endpoints
from textgate.webhooks.endpoints import create_endpoint
from textgate.webhooks.formats import Endpoint, RenderContext, Rendered
from textgate.webhooks.mail import mailto, parse_mailto

log = logging.getLogger(__name__)

REPLY_FORMAT = "bestsms_email_reply"
REPORT_FORMAT = "bestsms_email"


def render_report_email(
    event_type: str, data: dict[str, Any], ep: Endpoint, ctx: RenderContext
) -> Rendered | None:
    from textgate.providers.bestsms.wire import report_fields  # wire registers this module's formats

    try:
        fields = report_fields(event_type, data, ep, ctx)
    except Exception:  # see wire._safe_fields: never undo the change being reported
        log.exception("BestSMS email report for %s not rendered", data.get("id"))
        return None
    if fields is None:
        return None
    rows = "".join(
        f"<tr><th align='left'>{escape(k)}</th><td>{escape(v)}</td></tr>" for k, v in fields.items() if v
    )
    kind = "Reply" if fields["Type"] == "SMSReply" else "Delivery report"
    subject = f"SMS {kind.lower()}: {fields['MessageID']} to {fields['Destination']} - {fields['Status']}"
    html = (
        f"<html><body><h2>{escape(kind)}</h2>"
        f"<table cellpadding='4' border='1' style='border-collapse:collapse'>{rows}</table></body></html>"
    )
    address = parse_mailto(ep.url).address
    return Rendered(body=html, content_type="text/html; charset=utf-8", url=mailto(address, subject))


def render_reply_email(
    event_type: str, data: dict[str, Any], ep: Endpoint, ctx: RenderContext
) -> Rendered | None:
    if event_type != "message.received":
        return None
    inbound = message_row(ctx.conn, str(data["id"]))
    if inbound is None:
        return None
    account = get_account(ctx.conn, ep.account_id)
    thread = thread_of(ctx.conn, inbound, opts.reply_window(account.settings))
    address = ((thread or {}).get("meta") or {}).get("bestsms", {}).get("sms_email_reply") if thread else None
    if not address:
        return None
    ref = str(thread.get("client_ref") or thread["id"]) if thread else ""
    subject = f"SMS reply from {inbound['from_addr']} (MessageID {ref})"
    body = (
        f"{inbound['body']}\n\n"
        f"-- \nFrom: {inbound['from_addr']}\nTo: {inbound['to_addr']}\n"
        f"In reply to MessageID {ref}: {thread['body'] if thread else ''}\n"
    )
    return Rendered(body=body, content_type="text/plain; charset=utf-8", url=mailto(str(address), subject))


def ensure_reply_endpoint(conn: Connection, account_id: str, address: str, now: datetime) -> None:
    """The account's reply-email endpoint, created the first time a send asks for email replies."""
    existing = conn.execute(
        select(webhook_endpoints.c.id).where(
            webhook_endpoints.c.account_id == account_id,
            webhook_endpoints.c.format == REPLY_FORMAT,
            webhook_endpoints.c.deleted_at.is_(None),
        )
    ).first()
    if existing is None:
        create_endpoint(
            conn,
            account_id,
            mailto(address, "SMS reply"),
            ["message.received"],
            now=now,
            allow_private=False,
            format=REPLY_FORMAT,
            options={"created_by": "SMSEmailReply"},
        )
