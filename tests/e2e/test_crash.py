"""Crash safety: kill -9 the gateway in the middle of dispatch, start it again, and prove that every
accepted message reaches a final state exactly once, with exactly one charge and no refund."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select

from tests.e2e.harness import Server, cli, wait_for
from textgate.store.schema import accounts, ledger_entries, message_events, messages

pytestmark = pytest.mark.e2e

N = 300


def test_kill_9_mid_dispatch_loses_nothing_and_charges_once(db_url: str, tmp_path: Path) -> None:
    settings = {
        "lease_seconds": "2",
        "dispatch_batch": "10",
        "sim_submit_latency": "0.05",
        "sim_report_latency": "0.3",
    }
    server = Server(db_url, tmp_path, **settings)
    created = json.loads(cli(server.env, "accounts", "create", "crash", "--credits", str(N + 50), "--json"))
    cli(server.env, "numbers", "add", "crash", "+15551230001")
    server.start()
    accepted: list[str] = []
    engine = create_engine(db_url)
    try:
        with server.client(created["secret"]) as api:
            for start in range(0, N, 100):
                to = [f"+1555{1_000_000 + start + i:07d}" for i in range(100)]  # clear of the test numbers
                r = api.post("/v1/messages", json={"from": "+15551230001", "to": to, "body": "crash test"})
                assert r.status_code == 202, r.text
                accepted += [m["id"] for m in r.json()["messages"]]

        def progress() -> Counter[str]:
            with engine.connect() as conn:
                rows = conn.execute(select(messages.c.status, func.count()).group_by(messages.c.status)).all()
            return Counter({status: count for status, count in rows})

        # Kill it while some messages are done and others still wait or are in flight.
        wait_for(lambda: progress()["delivered"] + progress()["sent"] >= 40, timeout=60, interval=0.02)
        server.kill()
        before = progress()
        assert before["queued"] + before["sending"] > 0, f"dispatch finished before the kill: {before}"

        server.start()
        wait_for(lambda: progress()["delivered"] == N, timeout=60, interval=0.2, describe=progress)
        server.stop()

        with engine.connect() as conn:
            assert conn.execute(select(func.count()).select_from(messages)).scalar_one() == N
            ids = set(conn.execute(select(messages.c.id)).scalars())
            assert ids == set(accepted)
            entries = conn.execute(
                select(ledger_entries.c.message_id, ledger_entries.c.kind, ledger_entries.c.amount).where(
                    ledger_entries.c.message_id.is_not(None)
                )
            ).all()
            debits = Counter(e.message_id for e in entries if e.kind == "debit")
            assert set(debits) == ids and set(debits.values()) == {1}
            assert [e for e in entries if e.kind != "debit"] == []  # no refunds, no double charge
            balance = conn.execute(
                select(accounts.c.balance).where(accounts.c.id == created["account_id"])
            ).scalar_one()
            total = conn.execute(select(func.sum(ledger_entries.c.amount))).scalar_one()
            assert balance == total == 50
            delivered_events = Counter(
                conn.execute(
                    select(message_events.c.message_id).where(message_events.c.status == "delivered")
                ).scalars()
            )
            assert set(delivered_events) == ids and set(delivered_events.values()) == {1}
    finally:
        server.kill()
        engine.dispose()
