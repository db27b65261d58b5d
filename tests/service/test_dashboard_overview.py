"""The overview's figures (service/dashboard.py ``overview``), counted by the database: pinned for known
messages across hour and day boundaries, and equal to counting the rows in Python (as it was done
before) for random ones; on both databases."""

from __future__ import annotations

import itertools
import random
from collections import defaultdict
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from sqlalchemy import Engine, insert, select

from tests.helpers import make_tenant
from textgate.domain.clock import isoformat
from textgate.domain.message import MessageStatus
from textgate.service.dashboard import CHART_STATUSES, _chart_status, overview
from textgate.store.schema import messages

NOW = datetime(2026, 3, 15, 10, 30, tzinfo=UTC)
_ids = itertools.count(1)


def _row(account_id: str, at: datetime, status: str, direction: str = "outbound") -> dict[str, Any]:
    n = next(_ids)
    return {
        "id": f"msg_t{n:020d}",
        "account_id": account_id,
        "direction": direction,
        "type": "sms",
        "from_addr": "+15551230001",
        "to_addr": f"+1555000{n % 10000:04d}",
        "body": "hello",
        "encoding": "gsm7",
        "segments": 1,
        "credits": 1,
        "status": status,
        "error_code": "E1" if status in ("failed", "undelivered") else None,
        "created_at": at,
        "updated_at": at,
    }


def _store(engine: Engine, rows: list[dict[str, Any]]) -> None:
    with engine.begin() as conn:
        conn.execute(insert(messages), rows)


def _figures(engine: Engine, account_id: str, now: datetime, days: int) -> dict[str, Any]:
    with engine.connect() as conn:
        return overview(conn, account_id, now=now, days=days)


def _series(figures: dict[str, Any]) -> dict[datetime, dict[str, int]]:
    """The chart's non-empty slots: {slot start: {kind: count}}."""
    chart = figures["chart"]
    out: dict[datetime, dict[str, int]] = {}
    for i, at in enumerate(chart["at"]):
        counts = {k: chart["series"][k][i] for k in CHART_STATUSES if chart["series"][k][i]}
        if counts:
            out[datetime.fromtimestamp(at, UTC)] = counts
    return out


def test_hourly_figures_across_hour_and_day_boundaries(engine: Engine) -> None:
    acme = make_tenant(engine, name="acme").account.id
    other = make_tenant(engine, name="other", number="+15551238888").account.id
    h = timedelta(hours=1)
    us = timedelta(microseconds=1)
    ten = datetime(2026, 3, 15, 10, tzinfo=UTC)
    midnight = datetime(2026, 3, 15, tzinfo=UTC)
    chart_start = datetime(2026, 3, 14, 10, tzinfo=UTC)  # now - 24 h, down to the hour
    _store(
        engine,
        [
            _row(acme, chart_start - us, "delivered"),  # before the chart: nowhere
            _row(acme, chart_start, "delivered"),  # the first slot
            _row(acme, chart_start + h - us, "failed"),  # still the first slot
            _row(acme, midnight - us, "delivered"),  # yesterday's last hour, not today
            _row(acme, midnight, "sent"),  # today's first hour
            _row(acme, midnight + 2 * h, "queued"),
            _row(acme, midnight + 2 * h, "scheduled"),
            _row(acme, midnight + 2 * h, "sending"),
            _row(acme, ten - us, "undelivered"),
            _row(acme, ten, "delivered"),  # the last slot (10:00, now is 10:30)
            _row(acme, ten, "delivered"),
            _row(acme, ten + 5 * h, "delivered"),  # after now (a clock set back): today, not charted
            _row(acme, ten, "rejected"),
            _row(acme, ten, "expired"),
            _row(acme, ten, "canceled"),  # today's total, not a chart kind
            _row(acme, ten, "received", direction="inbound"),  # inbound: nowhere
            _row(other, ten, "delivered"),  # another account: nowhere
        ],
    )
    figures = _figures(engine, acme, NOW, 1)
    chart = figures["chart"]
    assert chart["days"] == 1
    assert len(chart["at"]) == 25
    assert chart["at"][0] == int(chart_start.timestamp())
    assert chart["at"][-1] == int(ten.timestamp())
    assert _series(figures) == {
        chart_start: {"delivered": 1, "failed": 1},
        midnight - h: {"delivered": 1},
        midnight: {"sent": 1},
        midnight + 2 * h: {"queued": 3},
        ten - h: {"failed": 1},
        ten: {"delivered": 2, "failed": 2},
    }
    # Today: sent, queued x3, undelivered, delivered x3 (one after now), rejected, expired, canceled.
    assert figures["today"] == {"sent": 11, "delivered": 3, "failed": 3}
    assert figures["delivery_rate"] == 50.0
    assert [m["status"] for m in figures["recent_failures"]] == ["undelivered", "failed"]


def test_daily_figures_across_day_boundaries(engine: Engine) -> None:
    acme = make_tenant(engine, name="acme").account.id
    us = timedelta(microseconds=1)
    d = timedelta(days=1)
    first = datetime(2026, 3, 8, tzinfo=UTC)  # now - 7 days, down to the day
    today = datetime(2026, 3, 15, tzinfo=UTC)
    _store(
        engine,
        [
            _row(acme, first - us, "delivered"),
            _row(acme, first, "delivered"),
            _row(acme, first + d - us, "sent"),
            _row(acme, first + d, "failed"),
            _row(acme, today - us, "delivered"),
            _row(acme, today, "delivered"),
            _row(acme, NOW, "queued"),
        ],
    )
    figures = _figures(engine, acme, NOW, 7)
    chart = figures["chart"]
    assert chart["days"] == 7
    assert chart["at"] == [int((first + i * d).timestamp()) for i in range(8)]
    assert _series(figures) == {
        first: {"delivered": 1, "sent": 1},
        first + d: {"failed": 1},
        today - d: {"delivered": 1},
        today: {"delivered": 1, "queued": 1},
    }
    assert figures["today"] == {"sent": 2, "delivered": 1, "failed": 0}
    assert figures["delivery_rate"] == 100.0


def test_an_empty_account(engine: Engine) -> None:
    acme = make_tenant(engine, name="acme").account.id
    figures = _figures(engine, acme, NOW, 1)
    assert figures["today"] == {"sent": 0, "delivered": 0, "failed": 0}
    assert figures["delivery_rate"] is None
    assert all(v == [0] * 25 for v in figures["chart"]["series"].values())
    assert figures["recent_failures"] == []


def _reference(engine: Engine, account_id: str, now: datetime, days: int) -> dict[str, Any]:
    """The figures as overview computed them before: every row of the period read and bucketed here."""
    m = messages.c
    day_start = now.replace(hour=0, minute=0, second=0, microsecond=0)
    step = timedelta(hours=1) if days == 1 else timedelta(days=1)
    start = now - timedelta(days=days)
    start = (
        start.replace(minute=0, second=0, microsecond=0)
        if days == 1
        else start.replace(hour=0, minute=0, second=0, microsecond=0)
    )
    with engine.connect() as conn:
        rows = conn.execute(
            select(m.created_at, m.status).where(
                m.account_id == account_id, m.created_at >= start, m.direction == "outbound"
            )
        ).all()
    today: dict[str, int] = defaultdict(int)
    buckets: dict[datetime, dict[str, int]] = defaultdict(lambda: dict.fromkeys(CHART_STATUSES, 0))
    for created_at, status in rows:
        if created_at >= day_start:
            today[status] += 1
        kind = _chart_status(status)
        if kind is not None:
            buckets[start + ((created_at - start) // step) * step][kind] += 1
    slots = []
    at = start
    while at <= now:
        slots.append(at)
        at += step
    delivered = today.get("delivered", 0)
    failed = sum(today.get(s, 0) for s in ("failed", "undelivered", "rejected", "expired"))
    return {
        "today": {"sent": sum(today.values()), "delivered": delivered, "failed": failed},
        "delivery_rate": round(100 * delivered / (delivered + failed), 1) if delivered + failed else None,
        "chart": {
            "days": days,
            "at": [int(s.timestamp()) for s in slots],
            "series": {k: [buckets[s][k] for s in slots] for k in CHART_STATUSES},
        },
    }


def test_the_same_figures_as_counting_the_rows(engine: Engine) -> None:
    acme = make_tenant(engine, name="acme").account.id
    other = make_tenant(engine, name="other", number="+15551238888").account.id
    rnd = random.Random(7)
    statuses = [s.value for s in MessageStatus]
    base = datetime(2026, 3, 6, tzinfo=UTC)
    rows = []
    for _ in range(3000):
        # Whole hours, minutes and seconds often, so that many messages sit exactly on a boundary.
        at = base + timedelta(
            hours=rnd.randrange(24 * 10),
            minutes=rnd.choice((0, 0, 59, rnd.randrange(60))),
            seconds=rnd.choice((0, 59, rnd.randrange(60))),
            microseconds=rnd.choice((0, 999_999, rnd.randrange(10**6))),
        )
        direction = "inbound" if rnd.random() < 0.1 else "outbound"
        status = "received" if direction == "inbound" else rnd.choice(statuses)
        rows.append(_row(acme if rnd.random() < 0.9 else other, at, status, direction))
    _store(engine, rows)
    india = timezone(timedelta(hours=5, minutes=30))
    nows = [
        NOW,
        datetime(2026, 3, 15, 0, 0, tzinfo=UTC),  # midnight exactly
        datetime(2026, 3, 14, 23, 59, 59, 999_999, tzinfo=UTC),
        datetime(2026, 3, 13, 7, 0, tzinfo=UTC),  # on an hour
        datetime(2026, 3, 15, 10, 30, tzinfo=india),  # another clock: its own hours and midnight
    ]
    for now, days in itertools.product(nows, (1, 7)):
        got = _figures(engine, acme, now, days)
        want = _reference(engine, acme, now, days)
        assert {k: got[k] for k in want} == want, (now, days)
        assert sum(map(sum, got["chart"]["series"].values())) > 0


def test_recent_failures_newest_first_failed_and_undelivered(engine: Engine) -> None:
    acme = make_tenant(engine, name="acme").account.id
    t = NOW - timedelta(hours=3)
    _store(
        engine,
        [_row(acme, t + timedelta(minutes=i), s) for i, s in enumerate(["failed", "undelivered"] * 4)]
        + [_row(acme, t + timedelta(minutes=30), "delivered"), _row(acme, t, "rejected")],
    )
    recent = _figures(engine, acme, NOW, 1)["recent_failures"]
    assert [(m["status"], m["created_at"]) for m in recent] == [
        (s, isoformat(t + timedelta(minutes=i)))
        for i, s in reversed(list(enumerate(["failed", "undelivered"] * 4)))
    ][:5]
