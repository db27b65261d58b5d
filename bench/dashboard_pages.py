"""The dashboard's pages with 1,000,000 stored messages: each page's latency against a 200 ms target.

Builds a database holding ``--messages`` (1,000,000) messages of one account, spread over the last
``--spread-days`` (30) days with a realistic status mix (mostly delivered, some sent, failed,
undelivered, rejected, expired, the last minutes still queued) and inbound replies (about 5 %, each a few
minutes after an outbound message to the same number), plus a second account with ``--other`` (20,000)
messages interleaved in time (tenancy: its rows sit in the same indexes). Rows go in with plain DB-API
``executemany`` in chunks of 20,000 (SQLite, ``synchronous=OFF`` while building) or ``COPY``
(PostgreSQL); ``--cache`` keeps the SQLite file under /tmp and reuses it while it is younger than
``--cache-hours``.

It then starts the real app (``create_app(..., workers=False)``, lifespan included, through Starlette's
TestClient: in process, no sockets), signs in to the dashboard as the big account and as an operator,
and requests every page ``--repeat`` (20) times, after one warm-up request each:

* ``GET /dashboard`` (overview, 24 h), ``GET /dashboard?days=7``;
* ``GET /dashboard/messages`` (first page), with ``status=failed``, with ``number=`` one recipient, with
  ``text=`` a word about 1 % of bodies hold, the next page through its cursor;
* a message's page: an outbound message with a reply, that inbound reply, an outbound message 30 days
  old (its replies' window runs to the pair's next message);
* an operator's view: the account's overview and messages page with ``account=``.

Every request is timed (wall clock, client side) and reported as min – median – p95 – max ms with
whether the p95 (or only the median) is within 200 ms; then the query plans (``EXPLAIN QUERY PLAN`` on
SQLite, ``EXPLAIN`` on PostgreSQL) of the statements the overview and the message pages run, captured
from a real call. ``--spread-days 0.95`` puts every message in the current day (the worst case for the
overview's "today").

Run: ``.venv/bin/python bench/dashboard_pages.py [--cache] [--repeat 20] [--postgres URL]``
(``--postgres`` takes a URL of an empty database, or ``throwaway`` to start a temporary cluster the way
the tests do, tests/pg.py).
"""

from __future__ import annotations

import argparse
import os
import random
import re
import sqlite3
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make ``bench`` and ``tests`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fastapi.testclient import TestClient
from sqlalchemy import Connection, Engine, event, func, select

from textgate.bootstrap import prepare_database
from textgate.config import Settings
from textgate.service.accounts import add_number, create_account
from textgate.service.dashboard import overview
from textgate.service.dashboard_messages import message_thread
from textgate.service.operators import create_operator
from textgate.service.users import set_login
from textgate.store.db import make_engine
from textgate.store.migrate import current_revision, head_revision, upgrade
from textgate.store.schema import accounts, messages
from textgate.web.app import create_app

TARGET_MS = 200.0
PASSWORD = "correct horse battery"
CHUNK = 20_000
SENDER = "+15551230001"
OTHER_SENDER = "+15551238888"
RECIPIENTS = 20_000
SEARCH_WORD = "invoice"  # in about 1 % of bodies
WORDS = [
    "hello",
    "your",
    "order",
    "has",
    "shipped",
    "code",
    "is",
    "appointment",
    "tomorrow",
    "at",
    "reminder",
    "thanks",
    "for",
    "visiting",
    "reply",
    "stop",
    "to",
    "opt",
    "out",
    "delivery",
    "window",
    "today",
    "pickup",
    "ready",
    "balance",
    "due",
]
# Outbound final mix (the last QUEUED_MINUTES are still queued or sending).
MIX = [
    ("delivered", 0.86),
    ("sent", 0.06),
    ("failed", 0.03),
    ("undelivered", 0.025),
    ("rejected", 0.01),
    ("expired", 0.01),
    ("canceled", 0.005),
]
QUEUED_MINUTES = 10
INBOUND_SHARE = 0.05
COLUMNS = [
    "id",
    "account_id",
    "direction",
    "type",
    "from_addr",
    "to_addr",
    "body",
    "encoding",
    "segments",
    "credits",
    "status",
    "error_code",
    "error_message",
    "connector",
    "attempts",
    "created_at",
    "updated_at",
    "sent_at",
    "delivered_at",
]


# -- building the database ----------------------------------------------------------------------------
def _ts(value: datetime | None, sqlite: bool) -> Any:
    if value is None or not sqlite:
        return value
    return value.replace(tzinfo=None).isoformat(" ", "microseconds")


def _rows(
    account_id: str, sender: str, count: int, *, now: datetime, spread: timedelta, seed: int, sqlite: bool
) -> Iterator[tuple[Any, ...]]:
    """``count`` message rows, oldest first, created over ``spread`` before ``now``."""
    rnd = random.Random(seed)
    statuses = [s for s, _ in MIX]
    weights = [w for _, w in MIX]
    step = spread / count
    start = now - spread
    prefix = account_id[-6:]
    recent: list[str] = []  # the last outbound messages' recipients: who replies
    for i in range(count):
        created = start + step * i + timedelta(microseconds=rnd.randrange(1000))
        inbound = rnd.random() < INBOUND_SHARE and recent
        peer = rnd.choice(recent) if inbound else f"+1555{rnd.randrange(RECIPIENTS):07d}"
        words = rnd.choices(WORDS, k=8)
        if rnd.random() < 0.01:
            words[rnd.randrange(8)] = SEARCH_WORD
        body = " ".join(words).capitalize()
        if inbound:
            yield (
                f"msg_{prefix}{i:012d}i", account_id, "inbound", "sms", peer, sender, body, "gsm7", 1, 0,
                "received", None, None, "smsc1", 0, _ts(created, sqlite), _ts(created, sqlite),
                None, None,
            )  # fmt: skip
            continue
        recent.append(peer)
        if len(recent) > 100:
            del recent[:50]
        if now - created < timedelta(minutes=QUEUED_MINUTES):
            status = rnd.choice(("queued", "sending"))
        else:
            status = rnd.choices(statuses, weights)[0]
        sent = created + timedelta(seconds=1) if status not in ("queued", "sending", "rejected") else None
        delivered = created + timedelta(seconds=5) if status == "delivered" else None
        failed = status in ("failed", "undelivered", "rejected", "expired")
        yield (
            f"msg_{prefix}{i:012d}o", account_id, "outbound", "sms", sender, peer, body, "gsm7", 1, 1,
            status, "E1" if failed else None, "carrier said no" if failed else None, "smsc1",
            1, _ts(created, sqlite), _ts(delivered or sent or created, sqlite), _ts(sent, sqlite),
            _ts(delivered, sqlite),
        )  # fmt: skip


def _chunks(rows: Iterator[tuple[Any, ...]]) -> Iterator[list[tuple[Any, ...]]]:
    chunk: list[tuple[Any, ...]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _merged(a: Iterator[tuple[Any, ...]], b: Iterator[tuple[Any, ...]]) -> Iterator[tuple[Any, ...]]:
    """Both accounts' rows in created order (as a live gateway would have written them)."""
    at = COLUMNS.index("created_at")
    ra, rb = next(a, None), next(b, None)
    while ra is not None or rb is not None:
        if rb is None or (ra is not None and ra[at] <= rb[at]):
            assert ra is not None
            yield ra
            ra = next(a, None)
        else:
            yield rb
            rb = next(b, None)


def build(engine: Engine, args: argparse.Namespace, now: datetime) -> dict[str, str]:
    """Accounts, logins, an operator and the messages; returns the ids the timing needs."""
    sqlite = engine.dialect.name == "sqlite"
    prepare_database(engine)
    with engine.begin() as conn:
        big, _ = create_account(conn, "bench-big", now=now, credits=10**9)
        add_number(conn, big, SENDER, now=now)
        other, _ = create_account(conn, "bench-other", now=now, credits=10**6)
        add_number(conn, other, OTHER_SENDER, now=now)
        set_login(conn, big.id, "big-admin", PASSWORD)
        set_login(conn, other.id, "other-admin", PASSWORD)
        create_operator(conn, "ops", PASSWORD, now=now)
    spread = timedelta(days=args.spread_days)
    rows = _merged(
        _rows(big.id, SENDER, args.messages, now=now, spread=spread, seed=1, sqlite=sqlite),
        _rows(other.id, OTHER_SENDER, args.other, now=now, spread=spread, seed=2, sqlite=sqlite),
    )
    t0 = time.perf_counter()
    done = 0
    if sqlite:
        path = engine.url.database
        assert path
        raw = sqlite3.connect(path, isolation_level=None)
        raw.execute("PRAGMA synchronous=OFF")
        raw.execute("PRAGMA cache_size=-262144")
        insert = f"INSERT INTO messages ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"  # noqa: S608 - our own column names
        for chunk in _chunks(rows):
            raw.execute("BEGIN")
            raw.executemany(insert, chunk)
            raw.execute("COMMIT")
            done += len(chunk)
            print(f"\r  {done:,} rows, {time.perf_counter() - t0:.0f} s", end="", flush=True)
        raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        raw.close()
    else:
        import psycopg

        dsn = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        with psycopg.connect(dsn) as pg:
            with pg.cursor() as cur:
                for chunk in _chunks(rows):
                    with cur.copy(f"COPY messages ({', '.join(COLUMNS)}) FROM STDIN") as copy:
                        for row in chunk:
                            copy.write_row(row)
                    done += len(chunk)
                    print(f"\r  {done:,} rows, {time.perf_counter() - t0:.0f} s", end="", flush=True)
            pg.commit()
            pg.autocommit = True
            pg.execute("VACUUM ANALYZE messages")  # as autovacuum would after a load like this
    print(f"\r  {done:,} rows in {time.perf_counter() - t0:.0f} s")
    return {"big": big.id, "other": other.id}


def _ids(engine: Engine) -> dict[str, str]:
    with engine.connect() as conn:
        found = dict(
            conn.execute(
                select(accounts.c.name, accounts.c.id).where(
                    accounts.c.name.in_(["bench-big", "bench-other"])
                )
            ).all()
        )
    return {"big": found["bench-big"], "other": found["bench-other"]}


def _sqlite_database(args: argparse.Namespace, now: datetime) -> tuple[str, dict[str, str], bool]:
    path = Path(args.cache_dir) / f"textgate-dashboard-{args.messages}-{args.other}-{args.spread_days}d.db"
    if args.cache and path.exists() and time.time() - path.stat().st_mtime < args.cache_hours * 3600:
        url = f"sqlite:///{path}"
        engine = make_engine(url)
        try:
            if current_revision(engine) != head_revision():  # built by an older textgate
                t0 = time.perf_counter()
                upgrade(engine)
                print(f"upgraded the cached database in {time.perf_counter() - t0:.1f} s")
            ids = _ids(engine)
        finally:
            engine.dispose()
        age = (time.time() - path.stat().st_mtime) / 3600
        print(f"reusing {path} (built {age:.1f} h ago)")
        return url, ids, True
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    url = f"sqlite:///{path}"
    engine = make_engine(url)
    try:
        print(f"building {path}: {args.messages:,} + {args.other:,} messages over {args.spread_days} days")
        ids = build(engine, args, now)
    finally:
        engine.dispose()
    return url, ids, False


# -- timing -------------------------------------------------------------------------------------------
def _csrf(html: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match, html[:500]
    return match.group(1)


def _sign_in(client: TestClient, username: str, **extra: str) -> None:
    form = client.get("/dashboard/login")
    r = client.post(
        "/dashboard/login",
        data={"username": username, "password": PASSWORD, "csrf": _csrf(form.text), **extra},
        follow_redirects=False,
    )
    assert r.status_code == 303, (r.status_code, r.text[:300])


def _time(client: TestClient, url: str, repeat: int) -> list[float]:
    r = client.get(url)  # warm-up, not counted
    assert r.status_code == 200, (url, r.status_code, r.text[:300])
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        r = client.get(url)
        times.append((time.perf_counter() - t0) * 1000)
        assert r.status_code == 200, (url, r.status_code)
    return times


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def _pages(
    engine: Engine, ids: dict[str, str]
) -> tuple[list[tuple[str, str, str]], dict[str, int], dict[str, str]]:
    """(who, label, url) of every timed page, a few counts to print, the messages whose pages are timed."""
    big = ids["big"]
    m = messages.c
    day_start = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    with engine.connect() as conn:
        peer = conn.execute(
            select(m.to_addr)
            .where(m.account_id == big, m.direction == "outbound")
            .order_by(m.id.desc())
            .limit(1)
        ).scalar_one()
        # An outbound message answered by an inbound one (its page lists the replies).
        inbound = conn.execute(
            select(m.id, m.from_addr, m.created_at)
            .where(m.account_id == big, m.direction == "inbound")
            .order_by(m.created_at.desc())
            .limit(1)
        ).one()
        detail = conn.execute(
            select(m.id)
            .where(
                m.account_id == big,
                m.to_addr == inbound.from_addr,
                m.direction == "outbound",
                m.created_at <= inbound.created_at,
            )
            .order_by(m.created_at.desc())
            .limit(1)
        ).scalar()
        if detail is None:
            detail = conn.execute(select(m.id).where(m.account_id == big).limit(1)).scalar_one()
        # One of the oldest outbound messages: its replies' window runs to the pair's next message.
        old = conn.execute(
            select(m.id)
            .where(m.account_id == big, m.direction == "outbound")
            .order_by(m.created_at)
            .offset(100)
            .limit(1)
        ).scalar_one()
        counts = {
            "big account": conn.execute(select(func.count()).where(m.account_id == big)).scalar_one(),
            "big account today": conn.execute(
                select(func.count()).where(m.account_id == big, m.created_at >= day_start)
            ).scalar_one(),
            "to one number": conn.execute(
                select(func.count()).where(m.account_id == big, m.to_addr == peer)
            ).scalar_one(),
        }
    pages = [
        ("account", "overview 24 h", "/dashboard"),
        ("account", "overview 7 d", "/dashboard?days=7"),
        ("account", "messages, first page", "/dashboard/messages"),
        ("account", "messages, status=failed", "/dashboard/messages?status=failed"),
        ("account", "messages, number filter", f"/dashboard/messages?number={peer}"),
        ("account", f"messages, text={SEARCH_WORD}", f"/dashboard/messages?text={SEARCH_WORD}"),
        ("account", "messages, next page (cursor)", "NEXT"),
        ("account", "message page (outbound, replied)", f"/dashboard/messages/{detail}"),
        ("account", "message page (inbound reply)", f"/dashboard/messages/{inbound.id}"),
        ("account", "message page (outbound, 30 d old)", f"/dashboard/messages/{old}"),
        ("operator", "operator: overview 24 h", f"/dashboard?account={big}"),
        ("operator", "operator: overview 7 d", f"/dashboard?days=7&account={big}"),
        ("operator", "operator: messages", f"/dashboard/messages?account={big}"),
        ("operator", "operator: message page", f"/dashboard/messages/{detail}?account={big}"),
    ]
    return pages, counts, {"outbound": detail, "inbound": inbound.id, "old": old}


def _next_url(client: TestClient) -> str:
    html = client.get("/dashboard/messages").text
    match = re.search(r'href="(/dashboard/messages\?[^"]*cursor=[^"]+)"', html)
    assert match, "no next-page link on the first page"
    return match.group(1).replace("&amp;", "&")


def time_pages(
    url: str, ids: dict[str, str], repeat: int
) -> tuple[list[tuple[str, list[float]]], dict[str, str]]:
    engine = make_engine(url)
    try:
        pages, counts, targets = _pages(engine, ids)
    finally:
        engine.dispose()
    for name, value in counts.items():
        print(f"  messages of the {name}: {value:,}")
    results = []
    app = create_app(Settings(database_url=url), workers=False)
    with (
        TestClient(app, base_url="http://127.0.0.1") as account,
        TestClient(app, base_url="http://127.0.0.1") as operator,
    ):
        _sign_in(account, "big-admin")
        _sign_in(operator, "ops", operator="1")
        clients = {"account": account, "operator": operator}
        for who, label, page in pages:
            client = clients[who]
            target = _next_url(client) if page == "NEXT" else page
            times = _time(client, target, repeat)
            results.append((label, times))
            print(f"  {label:36} {_summary(times)}", flush=True)
    return results, targets


def _summary(times: list[float]) -> str:
    med, p95 = statistics.median(times), _p95(times)
    verdict = "yes" if p95 <= TARGET_MS else ("median only" if med <= TARGET_MS else "NO")
    return (
        f"{min(times):7.1f} – {med:7.1f} – {p95:7.1f} – {max(times):7.1f} ms  ≤ {TARGET_MS:.0f} ms: {verdict}"
    )


# -- query plans ----------------------------------------------------------------------------------------
def plans(url: str, account_id: str, targets: dict[str, str]) -> None:
    """The plan of every SELECT the overview (24 h, 7 d) and the message pages run, captured from a real
    call of their service functions; each distinct plan line once, with how often it occurs (once a
    UNION ALL arm)."""
    engine = make_engine(url)
    seen: list[tuple[str, Any]] = []

    def capture(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        seen.append((statement, parameters))

    now = datetime.now(UTC)
    calls: list[tuple[str, Callable[[Connection], object]]] = [
        ("overview, 24 h", lambda conn: overview(conn, account_id, now=now, days=1)),
        ("overview, 7 d", lambda conn: overview(conn, account_id, now=now, days=7)),
    ]
    for kind, message_id in targets.items():
        calls.append(
            (f"message page ({kind})", lambda conn, m=message_id: message_thread(conn, account_id, m))
        )
    explain = "EXPLAIN QUERY PLAN " if engine.dialect.name == "sqlite" else "EXPLAIN "
    try:
        for label, call in calls:
            seen.clear()
            event.listen(engine, "before_cursor_execute", capture)
            with engine.connect() as conn:
                t0 = time.perf_counter()
                call(conn)
                took = (time.perf_counter() - t0) * 1000
            event.remove(engine, "before_cursor_execute", capture)
            print(f"\n  {label}: {took:.1f} ms in the service function, {len(seen)} statements")
            with engine.connect() as conn:
                for statement, params in seen:
                    if not statement.lstrip().upper().startswith("SELECT"):
                        continue
                    one_line = " ".join(statement.split())
                    print(f"  - {one_line[:200]}{' …' if len(one_line) > 200 else ''}")
                    lines = [
                        str(row[-1]).strip() for row in conn.exec_driver_sql(explain + statement, params)
                    ]
                    for line, n in Counter(lines).items():  # first-seen order
                        print(f"      {line}{f'  (× {n})' if n > 1 else ''}")
    finally:
        engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--other", type=int, default=20_000, help="messages of the second account")
    parser.add_argument("--spread-days", type=float, default=30)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--postgres", metavar="URL", help="an empty PostgreSQL database, or 'throwaway'")
    parser.add_argument("--cache", action="store_true", help="reuse the SQLite file built by an earlier run")
    parser.add_argument("--cache-dir", default="/tmp")
    parser.add_argument("--cache-hours", type=float, default=12)
    args = parser.parse_args()
    now = datetime.now(UTC)
    print(
        f"{now:%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}; "
        f"each page {args.repeat} times after a warm-up, client-side wall clock"
    )
    cluster = None
    if args.postgres:
        if args.postgres == "throwaway":
            from tests import pg

            cluster = pg.get_cluster()
            url = cluster.create_database("bench_dashboard")
        else:
            url = args.postgres
        engine = make_engine(url)
        try:
            print(f"building on PostgreSQL: {args.messages:,} + {args.other:,} messages")
            ids = build(engine, args, now)
        finally:
            engine.dispose()
    else:
        url, ids, _ = _sqlite_database(args, now)
    try:
        print(f"\npages ({'PostgreSQL' if args.postgres else 'SQLite'}): min – median – p95 – max")
        _, targets = time_pages(url, ids, args.repeat)
        print("\nquery plans")
        plans(url, ids["big"], targets)
    finally:
        if cluster is not None:
            from tests import pg

            pg.stop_cluster()


if __name__ == "__main__":
    main()
