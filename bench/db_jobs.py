"""The database side of the end-to-end path, one job at a time: CPU per message, in one thread.

The end-to-end benchmark (``e2e_smpp.py``) runs these jobs on ``serve``'s database thread and in the
webhook sender, where they share the GIL, the cores and SQLite's write lock with everything else, so
their time there mixes their own cost with waiting. Here each job runs alone, in this process, on a fresh
SQLite file (same schema, same pragmas and garbage-collector settings as ``serve``), and its thread CPU
time is taken:

* ``accept``: ``send_messages`` for 100-recipient sends (validation, pricing, message, event and ledger
  rows), one transaction each, as the API's group commit would;
* ``claim`` / ``record``: the dispatch worker's claim of up to ``--batch`` messages and the recording of
  the carrier's answers (every one taken);
* ``receipts``: ``record_receipts`` for 200 ``DELIVRD`` receipts a transaction (status, event, webhook
  outbox row for an endpoint that takes final statuses);
* ``webhook claim`` / ``webhook finish``: the webhook sender taking its batch and recording that every
  POST succeeded (no HTTP: only the database work);
* ``accept 1 recipient, groups of 32`` (on a database of its own, not in the total): single-recipient
  sends, each authenticated by its bearer secret, run by the API's group commit (``TransactionBatcher``)
  32 at a time, as 32 concurrent clients arrive - to compare with ``accept`` per message.

**Baseline**, in the same run: plain ``sqlite3`` inserting the same number of rows of the ``messages``
table's shape (every column, the table's indexes) in transactions of 100, precompiled, no SQLAlchemy: the
floor of writing each message once. Each job is reported as µs a message and as a multiple of it.

Run: ``.venv/bin/python bench/db_jobs.py [--messages 10000] [--profile JOB]``
"""

from __future__ import annotations

import argparse
import cProfile
import itertools
import pstats
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

if __package__ in (None, ""):  # run as a script: make ``bench`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from textgate.bootstrap import prepare_database
from textgate.config import Settings
from textgate.domain.clock import utcnow
from textgate.domain.message import MessageStatus
from textgate.providers.base import Connector, Health, OutboundMessage, Receipt
from textgate.runtime import tune_gc
from textgate.service.accounts import add_number, authenticate_secret, create_account
from textgate.service.receipts import record_receipts
from textgate.service.send import SendRequest, send_messages
from textgate.store.batch import TransactionBatcher, _Unit
from textgate.store.db import make_engine
from textgate.store.schema import messages
from textgate.webhooks.endpoints import create_endpoint
from textgate.webhooks.outbox import EndpointCache
from textgate.workers.dispatch import DispatchWorker
from textgate.workers.webhooks import Attempt, Outcome, WebhookWorker

T = TypeVar("T")
SENDER = "+15551230001"
BODY = "Hello from the textgate bench"
FINAL = ["delivered", "undelivered", "failed", "expired", "rejected"]
RECEIPT = (
    "id:{id} sub:001 dlvrd:001 submit date:2611221754 done date:2611221754 stat:DELIVRD err:000 text:Hello"
)


class _Taken(Connector):
    """Never called: claim and record are driven directly."""

    name = "smsc1"

    async def submit(self, message: OutboundMessage) -> str:  # pragma: no cover - not used
        raise NotImplementedError

    def health(self) -> Health:
        return Health.UP


class Jobs:
    def __init__(self, profile: str | None) -> None:
        self.cpu: dict[str, float] = {}
        self.profile = profile

    def run(self, name: str, fn: Callable[..., T], *args: Any) -> T:
        prof = cProfile.Profile() if self.profile == name else None
        start = time.thread_time()
        if prof is not None:
            prof.enable()
        try:
            return fn(*args)
        finally:
            if prof is not None:
                prof.disable()
            self.cpu[name] = self.cpu.get(name, 0.0) + time.thread_time() - start
            if prof is not None:
                pstats.Stats(prof).sort_stats("tottime").print_stats(20)


def textgate_jobs(workdir: Path, count: int, batch: int, jobs: Jobs) -> int:
    """Every job over ``count`` messages; returns how many webhooks the sender finished."""
    engine = make_engine(f"sqlite:///{workdir}/textgate.db")
    prepare_database(engine)
    now = utcnow()
    with engine.begin() as conn:
        account, _key = create_account(conn, "bench", credits=10**9, now=now)
        add_number(conn, account, SENDER, now=now)
        create_endpoint(
            conn, account.id, "http://127.0.0.1:9/hooks", ["message.status"], now=now, allow_private=True,
            statuses=FINAL,
        )  # fmt: skip
    destinations = [f"+4474009{n:05d}" for n in range(count)]

    def accept(to: list[str]) -> None:
        with engine.begin() as conn:
            send_messages(conn, account, SendRequest(sender=SENDER, to=to, body=BODY), now=utcnow())

    for i in range(0, count, 100):
        jobs.run("accept", accept, destinations[i : i + 100])

    dispatcher = DispatchWorker(engine, _Taken(), clock=utcnow, batch=batch)
    numbers = itertools.count(1)
    carrier_ids: list[str] = []
    while claimed := jobs.run("claim", dispatcher.claim):
        answers = [format(next(numbers), "x") for _ in claimed]
        jobs.run("record", dispatcher.record, claimed, answers)
        carrier_ids += answers

    def receipts(ids: list[str]) -> None:
        reports = [
            Receipt(
                i, MessageStatus.DELIVERED, raw={"id": i, "stat": "DELIVRD", "text": RECEIPT.format(id=i)}
            )
            for i in ids
        ]
        with engine.begin() as conn:
            record_receipts(conn, "smsc1", reports, now=utcnow(), cache=EndpointCache())

    for i in range(0, len(carrier_ids), 200):
        jobs.run("receipts", receipts, carrier_ids[i : i + 200])

    sender = WebhookWorker(engine, Settings(allow_private_urls=True), batch_size=batch)
    finished = 0
    while claims := jobs.run("webhook claim", sender._claim, utcnow()):
        done = [Attempt(c, Outcome(True, 204, None, "succeeded"), utcnow(), 1) for c in claims]
        jobs.run("webhook finish", sender._finish, done)
        finished += len(claims)
    engine.dispose()
    return finished


def single_accept(workdir: Path, count: int, jobs: Jobs, group: int = 32) -> None:
    engine = make_engine(f"sqlite:///{workdir}/single.db")
    prepare_database(engine)
    with engine.begin() as conn:
        account, key = create_account(conn, "bench", credits=10**9, now=utcnow())
        add_number(conn, account, SENDER, now=utcnow())
    batcher = TransactionBatcher(engine)

    def unit(to: str) -> _Unit[Any]:
        def fn(conn: Any) -> Any:
            sender = authenticate_secret(conn, key.secret)
            return send_messages(conn, sender, SendRequest(sender=SENDER, to=[to], body=BODY), now=utcnow())

        return _Unit(fn, None)  # type: ignore[arg-type]

    destinations = [f"+4474009{n:05d}" for n in range(count)]
    for i in range(0, count, group):
        outcomes = jobs.run(
            f"accept 1 recipient, groups of {group}",
            batcher._run,
            [unit(t) for t in destinations[i : i + group]],
        )
        assert all(ok for ok, _ in outcomes), outcomes
    engine.dispose()


def baseline(workdir: Path, count: int) -> float:
    """CPU seconds for plain sqlite3 to insert ``count`` rows shaped like messages, 100 a transaction."""
    engine = make_engine(f"sqlite:///{workdir}/baseline.db")
    prepare_database(engine)
    with engine.begin() as conn:  # the account the rows point at (foreign key)
        account, _key = create_account(conn, "bench", credits=0, now=utcnow())
    engine.dispose()
    now = utcnow().isoformat(" ", "microseconds")[:26]
    columns = [c.name for c in messages.columns]
    sample = {
        "account_id": account.id, "direction": "outbound", "type": "sms", "from_addr": SENDER, "body": BODY,
        "encoding": "gsm7", "segments": 1, "credits": 1, "status": "queued", "attempts": 0, "due_at": now,
        "created_at": now, "updated_at": now,
    }  # fmt: skip
    sql = f"INSERT INTO messages ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"  # noqa: S608
    db = sqlite3.connect(workdir / "baseline.db", isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("PRAGMA foreign_keys=ON")
    rows = [
        tuple({**sample, "id": f"msg_{n:022d}", "to_addr": f"+4474009{n:05d}"}.get(c) for c in columns)
        for n in range(count)
    ]
    start = time.thread_time()
    for i in range(0, count, 100):
        db.execute("BEGIN IMMEDIATE")
        db.executemany(sql, rows[i : i + 100])
        db.execute("COMMIT")
    spent = time.thread_time() - start
    db.close()
    return spent


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--messages", type=int, default=10_000)
    p.add_argument("--batch", type=int, default=1000, help="dispatch and webhook batch (as the e2e bench)")
    p.add_argument("--profile", default=None, help="cProfile one job (e.g. receipts) and print its top")
    opts = p.parse_args(argv)
    tune_gc()  # as serve and the webhook senders run
    with tempfile.TemporaryDirectory(prefix="db-jobs-") as tmp:
        floor = baseline(Path(tmp), opts.messages)
        jobs = Jobs(opts.profile)
        finished = textgate_jobs(Path(tmp), opts.messages, opts.batch, jobs)
        single = Jobs(opts.profile)
        single_accept(Path(tmp), opts.messages, single)
    n = opts.messages
    per_floor = floor / n * 1e6
    print(f"database jobs, {n} messages, one thread, CPU time (fresh SQLite file, WAL, synchronous=NORMAL)")
    print(f"  {'baseline: plain sqlite3 insert of the message row':52} {per_floor:7.1f} µs a message")
    for name, spent in jobs.cpu.items():
        print(f"  {name:52} {spent / n * 1e6:7.1f} µs a message  ({spent / floor:4.1f} x baseline)")
    total = sum(jobs.cpu.values())
    print(f"  {'total':52} {total / n * 1e6:7.1f} µs a message  ({total / floor:4.1f} x baseline)")
    for name, spent in single.cpu.items():
        print(f"  {name:52} {spent / n * 1e6:7.1f} µs a message  ({spent / floor:4.1f} x baseline)")
    if finished != n:
        print(f"  webhooks finished: {finished}, expected {n}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
