"""What the dashboard's Webhooks, Users & credits and Reports pages read and do, as service functions
(web/dashboard/webhooks.py, users.py and reports.py render them; no SQL there).

Most of it is the API's own service code, composed for a page:

* webhooks: :func:`create_webhook` is ``POST /v1/webhooks`` (the number read in the account's region, the
  format's events when none are named, then :func:`textgate.webhooks.endpoints.create_endpoint` with its
  format/event checks and the private-URL guard); :func:`recent_deliveries` merges the endpoints'
  delivery logs (``GET /v1/webhooks/{id}/deliveries``), newest first. Replay is
  :func:`textgate.webhooks.endpoints.replay_delivery`, unchanged.
* users: :func:`users_overview` is the account and its direct children (``GET /v1/users``) with their
  balances and how many messages each sent in the last :data:`USAGE_DAYS` days.
* reports: :func:`report_preview` and :func:`report_csv` are :func:`textgate.service.reports.build_report`
  (the Text-Connect report types and columns, CSV injection guarded), read inside the caller's
  transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from itertools import islice
from typing import Any

from sqlalchemy import Connection, func, select

from textgate.domain.message import Direction
from textgate.domain.phone import normalize_number
from textgate.service.accounts import Account, balance
from textgate.service.reports import build_report, to_csv
from textgate.service.users import list_users
from textgate.store.schema import messages
from textgate.webhooks import endpoints
from textgate.webhooks.formats import default_events

#: The window of the users table's "messages sent" (bounded by account and time, like the overview).
USAGE_DAYS = 30
#: Rows a report shows on the page; the CSV download has them all.
PREVIEW_ROWS = 200


# -- webhooks ------------------------------------------------------------------------------------------
def create_webhook(
    conn: Connection,
    account: Account,
    *,
    url: str,
    events: Sequence[str] | None,
    format: str,
    number: str | None,
    statuses: Sequence[str] | None,
    options: dict[str, Any] | None,
    now: datetime,
    allow_private: bool,
) -> dict[str, Any]:
    """An endpoint made exactly as ``POST /v1/webhooks`` makes it; the answer carries its ``secret``."""
    e164 = normalize_number(number, region=account.region, field="number") if number else None
    return endpoints.create_endpoint(
        conn,
        account.id,
        url,
        list(events) if events else default_events(format),
        now=now,
        allow_private=allow_private,
        format=format,
        number=e164,
        options=options,
        statuses=statuses,
    )


def recent_deliveries(
    conn: Connection, account_id: str, *, endpoint_id: str | None = None, limit: int = 25
) -> list[dict[str, Any]]:
    """The account's most recent deliveries (to its live endpoints, or to ``endpoint_id`` only), newest
    first, each with its attempts and its endpoint's ``endpoint_url``. Another account's endpoint is
    NotFound."""
    if endpoint_id:
        urls = {endpoint_id: endpoints.get_endpoint(conn, account_id, endpoint_id)["url"]}
    else:
        urls = {e["id"]: e["url"] for e in endpoints.list_endpoints(conn, account_id)}
    found: list[dict[str, Any]] = []
    for ep_id, url in urls.items():
        for delivery in endpoints.list_deliveries(conn, account_id, ep_id, limit):
            found.append({**delivery, "endpoint_url": url})
    found.sort(key=lambda d: (d["created_at"] or "", d["id"]), reverse=True)
    return found[:limit]


def delivery_detail(conn: Connection, account_id: str, delivery_id: str) -> dict[str, Any]:
    """One delivery of the account with its attempts and ``endpoint_url`` (None once the endpoint is
    deleted); NotFound for anyone else's."""
    delivery = endpoints.get_delivery(conn, account_id, delivery_id)
    live = {e["id"]: e["url"] for e in endpoints.list_endpoints(conn, account_id)}
    return {**delivery, "endpoint_url": live.get(delivery["endpoint_id"])}


# -- users ---------------------------------------------------------------------------------------------
def _user_row(account: Account, credits: int, sent: int) -> dict[str, Any]:
    return {
        "id": account.id,
        "name": account.name,
        "username": account.username,
        "access_level": account.access_level,
        "status": account.status,
        "balance": credits,
        "messages_sent": sent,
    }


def users_overview(conn: Connection, account: Account, *, now: datetime) -> dict[str, Any]:
    """``{"me": row, "users": [row, ...]}``: the account and its direct children (oldest first), each
    with its balance and the outbound messages it created in the last :data:`USAGE_DAYS` days."""
    children = list_users(conn, account)
    ids = [account.id, *(c.id for c in children)]
    m = messages.c
    sent: dict[str, int] = {
        row.account_id: int(row.n)
        for row in conn.execute(
            select(m.account_id, func.count().label("n"))
            .where(
                m.account_id.in_(ids),
                m.created_at >= now - timedelta(days=USAGE_DAYS),
                m.direction == Direction.OUTBOUND.value,
            )
            .group_by(m.account_id)
        )
    }
    return {
        "me": _user_row(account, balance(conn, account.id), sent.get(account.id, 0)),
        "users": [_user_row(c, balance(conn, c.id), sent.get(c.id, 0)) for c in children],
    }


# -- reports -------------------------------------------------------------------------------------------
def report_preview(
    conn: Connection,
    account: Account,
    report_type: str,
    *,
    start: datetime | None,
    end: datetime | None,
    now: datetime,
    limit: int = PREVIEW_ROWS,
) -> tuple[list[str], list[list[str]], bool]:
    """The report's header, its first ``limit`` rows (cells as the CSV has them) and whether there are
    more."""
    report = build_report(conn, account, report_type, start=start, end=end, now=now)
    rows = list(islice(iter(report.rows), limit + 1))
    return report.header, rows[:limit], len(rows) > limit


def report_csv(
    conn: Connection,
    account: Account,
    report_type: str,
    *,
    start: datetime | None,
    end: datetime | None,
    now: datetime,
) -> str:
    """The whole report as CSV, the same text as ``GET /v1/reports/{type}`` and Text-Connect's Report."""
    return to_csv(build_report(conn, account, report_type, start=start, end=end, now=now))
