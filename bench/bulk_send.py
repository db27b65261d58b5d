"""How fast is a 100,000-recipient bulk send accepted and turned into queued messages?

In one run, on a fresh SQLite file database (the embedded default), against baselines measured in the
same run on the same file:

* ``accept``: ``accept_bulk_send`` to a group of N contacts — validation, the recipients' snapshot
  (``INSERT … SELECT`` in the database), the up-front debit — in one transaction. Baseline: a raw
  ``INSERT … SELECT`` copying the same N numbers into a scratch table.
* ``expand``: the bulk worker's rounds until every recipient is a queued message (chunks of 1,000,
  nothing dispatched). Baseline: a raw ``executemany`` of N message-sized rows into a scratch table.
* ``latency``: while the send is expanding, another account's one-recipient sends are accepted on the
  same database thread (as ``textgate serve`` shares it); their p50/p99 shows whether a big send blocks
  other traffic.

Afterwards the database is checked: N messages, each number once, balance and ledger agree.

Run: ``.venv/bin/python bench/bulk_send.py [--recipients 100000] [--database-url URL]``
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine, func, insert, select, text

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from textgate.ids import new_id
from textgate.service.accounts import balance, create_account, ledger_total
from textgate.service.bulk import BulkSendRequest, accept_bulk_send, get_bulk_send
from textgate.service.send import SendRequest, send_messages
from textgate.store.db import make_engine, run_sync
from textgate.store.migrate import upgrade
from textgate.store.schema import contact_groups, contacts, group_members, messages
from textgate.workers.bulk import BulkWorker


def _numbers(n: int) -> list[str]:
    return [f"+1555{2000000 + i:07d}" for i in range(n)]


def _setup(engine: Engine, n: int) -> tuple[object, object, str]:
    now = datetime.now(UTC)
    with engine.begin() as conn:
        big, _ = create_account(conn, "bulk", now=now, credits=n * 2)
        other, _ = create_account(conn, "other", now=now, credits=100_000)
        group_id = new_id("grp")
        conn.execute(
            insert(contact_groups).values(id=group_id, account_id=big.id, name="Everyone", created_at=now)
        )
        rows = [
            {
                "id": new_id("con"),
                "account_id": big.id,
                "name": f"C {i}",
                "number": num,
                "email": None,
                "created_at": now,
            }
            for i, num in enumerate(_numbers(n))
        ]
        conn.execute(insert(contacts), rows)
        conn.execute(insert(group_members), [{"group_id": group_id, "contact_id": r["id"]} for r in rows])
    return big, other, group_id


def _baseline_copy(engine: Engine, n: int) -> float:
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE scratch_copy (bulk_id TEXT, seq INTEGER, number TEXT)"))
        start = time.perf_counter()
        conn.execute(
            text(
                "INSERT INTO scratch_copy SELECT 'x', row_number() OVER (ORDER BY number), number "
                "FROM (SELECT DISTINCT number FROM contacts)"
            )
        )
        took = time.perf_counter() - start
        conn.execute(text("DROP TABLE scratch_copy"))
    return n / took


def _baseline_rows(engine: Engine, n: int) -> float:
    now = datetime.now(UTC).isoformat(" ")
    cols = [c.name for c in messages.columns]
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE scratch_rows (" + ", ".join(f"{c} TEXT" for c in cols) + ")"))
        start = time.perf_counter()
        values = ", ".join(":" + c for c in cols)  # our own column names
        stmt = text(f"INSERT INTO scratch_rows VALUES ({values})")  # noqa: S608
        for i in range(0, n, 1000):
            conn.execute(
                stmt,
                [
                    {c: (now if c.endswith("_at") else f"{c}-{j}") for c in cols}
                    for j in range(i, min(n, i + 1000))
                ],
            )
        took = time.perf_counter() - start
        conn.execute(text("DROP TABLE scratch_rows"))
    return n / took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--recipients", type=int, default=100_000)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    n = args.recipients
    tmp = tempfile.mkdtemp(prefix="textgate-bench-")
    url = args.database_url or f"sqlite:///{tmp}/bulk.db"
    engine = make_engine(url)
    upgrade(engine)
    big, other, group_id = _setup(engine, n)

    copy_rate = _baseline_copy(engine, n)
    rows_rate = _baseline_rows(engine, n)

    message = SendRequest(sender="Acme", to=[], body="Our summer sale starts today!", source="bench")
    start = time.perf_counter()
    with engine.begin() as conn:
        sent = accept_bulk_send(conn, big, BulkSendRequest("group", group_id, message), now=datetime.now(UTC))  # type: ignore[arg-type]
    accept_s = time.perf_counter() - start

    latencies: list[float] = []

    def one_other_send(i: int) -> None:
        with engine.begin() as conn:
            req = SendRequest(
                sender="Other", to=[f"+1555300{i % 10000:04d}"], body="unrelated", source="bench"
            )
            send_messages(conn, other, req, now=datetime.now(UTC))  # type: ignore[arg-type]

    async def expand_with_traffic() -> float:
        # As in `textgate serve`: the worker and the API share the engine's database thread (run_sync).
        stop = asyncio.Event()

        async def other_traffic() -> None:
            i = 0
            while not stop.is_set():
                t0 = time.perf_counter()
                await run_sync(engine, one_other_send, i)
                latencies.append(time.perf_counter() - t0)
                i += 1
                await asyncio.sleep(0.005)

        side = asyncio.create_task(other_traffic())
        worker = BulkWorker(engine, backlog=n + 1)  # expansion alone: nothing dispatches here
        start = time.perf_counter()
        while await worker.run_once():
            pass
        took = time.perf_counter() - start
        stop.set()
        await side
        return took

    expand_s = asyncio.run(expand_with_traffic())

    with engine.connect() as conn:
        done = get_bulk_send(conn, big, sent.id)  # type: ignore[arg-type]
        count, distinct = conn.execute(
            select(func.count(), func.count(func.distinct(messages.c.to_addr))).where(
                messages.c.batch_id == sent.id
            )
        ).one()
        ok = (
            done.finished
            and count == distinct == n
            and balance(conn, big.id) == ledger_total(conn, big.id) == n  # type: ignore[attr-defined]
        )
    accept_rate = n / accept_s
    expand_rate = n / expand_s
    lat = sorted(latencies)
    p50 = statistics.median(lat) * 1000 if lat else float("nan")
    p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000 if lat else float("nan")
    print(f"recipients                 {n}")
    print(f"accept (one transaction)   {accept_s:8.3f} s   {accept_rate:12,.0f} recipients/s")
    print(
        f"  baseline INSERT…SELECT          {copy_rate:12,.0f} rows/s   ratio {accept_rate / copy_rate:.3f}"
    )
    print(f"expand to queued messages  {expand_s:8.3f} s   {expand_rate:12,.0f} messages/s")
    print(
        f"  baseline executemany            {rows_rate:12,.0f} rows/s   ratio {expand_rate / rows_rate:.3f}"
    )
    print(f"other account's sends meanwhile: {len(lat)}, p50 {p50:.1f} ms, p99 {p99:.1f} ms")
    print(f"check: {'ok' if ok else 'FAILED'}")
    if not ok:
        sys.exit(1)


if __name__ == "__main__":
    main()
