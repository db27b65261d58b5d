"""Tracked links: for an account with the ``link_tracking`` setting, every http(s) link in an outbound
text becomes ``{short_link_url}/l/{code}`` - one code per link per message, so a visit says which
message (and so which recipient) it came from. Visiting it records a click (time, a hash of the
User-Agent), queues the ``message.clicked`` webhook event (BestSMS: a report with Status ``UPDATED``)
and redirects to the original address.

Segments and credits are counted on the rewritten text (:func:`measured`): that is what is sent.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select

from textgate.domain.clock import isoformat
from textgate.domain.errors import NotFound
from textgate.domain.message import Direction, MessageStatus
from textgate.store.fast import insert_later, insert_rows
from textgate.store.schema import link_clicks, messages, short_links
from textgate.webhooks.outbox import enqueue_event

CODE_LENGTH = 8
_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
#: An http(s) link as people write them in text; trailing punctuation is not part of it (see _trim).
_LINK = re.compile(r"https?://[^\s<>\"'`{}|\\^]+", re.IGNORECASE)
_TRAILING = ".,;:!?'\""
_configured: list[str] = []


def configure(base_url: str) -> None:
    """Short links point at ``base_url`` (the ``short_link_url`` setting, else ``public_url``)."""
    _configured[:] = [base_url.rstrip("/")]


def base_url() -> str:
    if not _configured:
        from textgate.config import Settings

        settings = Settings()
        configure(settings.short_link_url or settings.public_url)
    return _configured[0]


def tracks_links(account_settings: dict[str, Any]) -> bool:
    return account_settings.get("link_tracking") is True


def _trim(url: str) -> str:
    while url and (url[-1] in _TRAILING or (url[-1] == ")" and url.count("(") < url.count(")"))):
        url = url[:-1]
    return url


def links_in(text: str) -> list[tuple[int, int, str]]:
    """(start, end, url) of each link of ``text`` that is not already one of ours."""
    ours = base_url() + "/l/"
    found = []
    for m in _LINK.finditer(text):
        url = _trim(m.group(0))
        if len(url) > len("https://") and not url.startswith(ours):
            found.append((m.start(), m.start() + len(url), url))
    return found


def _replace(text: str, found: list[tuple[int, int, str]], codes: list[str]) -> str:
    out, last = [], 0
    prefix = base_url() + "/l/"
    for (start, end, _url), code in zip(found, codes, strict=True):
        out += [text[last:start], prefix, code]
        last = end
    out.append(text[last:])
    return "".join(out)


def measured(text: str) -> str:
    """``text`` as it will be sent, with placeholder codes of the real length: for counting parts."""
    found = links_in(text)
    return _replace(text, found, ["x" * CODE_LENGTH] * len(found)) if found else text


def new_code() -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(CODE_LENGTH))


def rewrite(
    conn: Connection, account_id: str, rows: list[dict[str, Any]], *, now: datetime, later: bool
) -> None:
    """Give the links of each outbound message row that will be sent their short links (in place), and
    store them. Refused rows keep their text: nothing is sent."""
    stored: list[dict[str, Any]] = []
    for row in rows:
        if row["direction"] != Direction.OUTBOUND.value or row["status"] == MessageStatus.FAILED.value:
            continue
        found = links_in(row["body"] or "")
        if not found:
            continue
        codes = [new_code() for _ in found]
        row["body"] = _replace(row["body"], found, codes)
        stored += [
            {
                "code": code,
                "account_id": account_id,
                "message_id": row["id"],
                "url": url,
                "created_at": now,
            }
            for (_s, _e, url), code in zip(found, codes, strict=True)
        ]
    if stored:
        (insert_later if later else insert_rows)(conn, short_links, stored)


def target(conn: Connection, code: str) -> str:
    """Where a short link leads (for HEAD and link previews that should not count as a visit)."""
    url = conn.execute(select(short_links.c.url).where(short_links.c.code == code)).scalar()
    if url is None:
        raise NotFound("no such link", field="code")
    return str(url)


def record_click(conn: Connection, code: str, *, user_agent: str | None, now: datetime) -> str:
    """Record a visit of ``code`` and queue its ``message.clicked`` event; returns the original URL."""
    from textgate.service.messages import message_view

    link = conn.execute(select(short_links).where(short_links.c.code == code)).first()
    if link is None:
        raise NotFound("no such link", field="code")
    agent = hashlib.sha256(user_agent.encode("utf-8", "replace")).hexdigest()[:16] if user_agent else None
    conn.execute(insert(link_clicks).values(code=code, message_id=link.message_id, at=now, agent_hash=agent))
    row = conn.execute(select(messages).where(messages.c.id == link.message_id)).mappings().first()
    if row is not None:
        data = {
            **message_view(dict(row)),
            "click": {"url": link.url, "short_url": f"{base_url()}/l/{code}", "at": isoformat(now)},
        }
        enqueue_event(conn, link.account_id, "message.clicked", data, order_key=link.message_id, now=now)
    return str(link.url)


def clicks_of(conn: Connection, message_id: str) -> list[dict[str, Any]]:
    """The message's recorded visits, oldest first, as timeline entries."""
    rows = conn.execute(
        select(link_clicks.c.at, link_clicks.c.agent_hash, short_links.c.url)
        .join(short_links, short_links.c.code == link_clicks.c.code)
        .where(link_clicks.c.message_id == message_id)
        .order_by(link_clicks.c.id)
    ).all()
    return [{"at": r.at, "url": r.url, "agent_hash": r.agent_hash} for r in rows]
