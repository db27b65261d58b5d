"""The dispatch worker against the simulator carrier, on a hand-driven clock."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from datetime import timedelta
from typing import Any, TypeVar

import pytest
from sqlalchemy import Engine, func, select

from tests.helpers import ManualClock, Tenant, make_tenant
from textgate.bootstrap import GatewaySink
from textgate.domain.message import MessageStatus
from textgate.providers.base import Receipt
from textgate.providers.simulator.connector import SimulatorConnector
from textgate.service.accounts import balance, ledger_total
from textgate.service.messages import message_events_view
from textgate.service.receipts import record_receipt
from textgate.service.send import SendRequest, send_messages
from textgate.store.schema import ledger_entries, messages, webhook_deliveries
from textgate.webhooks.endpoints import create_endpoint
from textgate.workers.dispatch import DispatchWorker, RetryPolicy

T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


class Rig:
    def __init__(self, engine: Engine, *, credits: int = 100, lease: float = 30.0) -> None:
        self.engine = engine
        self.clock = ManualClock()
        self.tenant: Tenant = make_tenant(engine, credits=credits, now=self.clock())
        self.sim = SimulatorConnector(engine, clock=self.clock, report_latency=1.0)
        self.sink = GatewaySink(engine, self.clock)
        self.sim._sink = self.sink  # report_due() without the background loop
        self.worker = self.new_worker("w1", lease)

    def new_worker(self, worker_id: str, lease: float = 30.0) -> DispatchWorker:
        return DispatchWorker(
            self.engine,
            self.sim,
            clock=self.clock,
            lease_seconds=lease,
            retry=RetryPolicy(base_seconds=2.0, max_seconds=60.0, max_attempts=4),
            worker_id=worker_id,
        )

    def send(self, to: str | list[str], body: str = "hello", **kw: Any) -> list[str]:
        req = SendRequest(sender=self.tenant.number, to=[to] if isinstance(to, str) else to, body=body, **kw)
        with self.engine.begin() as conn:
            result = send_messages(conn, self.tenant.account, req, now=self.clock())
        return [m["id"] for m in result.body["messages"]]

    def status(self, message_id: str) -> str:
        with self.engine.connect() as conn:
            return str(
                conn.execute(select(messages.c.status).where(messages.c.id == message_id)).scalar_one()
            )

    def row(self, message_id: str) -> Any:
        with self.engine.connect() as conn:
            return conn.execute(select(messages).where(messages.c.id == message_id)).one()

    def balance(self) -> int:
        with self.engine.connect() as conn:
            assert balance(conn, self.tenant.account.id) == ledger_total(conn, self.tenant.account.id)
            return balance(conn, self.tenant.account.id)

    def timeline(self, message_id: str) -> list[str]:
        return [e["status"] for e in self.events(message_id)]

    def events(self, message_id: str) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            return message_events_view(conn, self.tenant.account.id, message_id)

    def step(self, seconds: float = 0.0) -> None:
        self.clock.advance(seconds)
        run(self.worker.run_once())
        run(self.sim.report_due())


def test_message_is_sent_then_delivered(engine: Engine) -> None:
    rig = Rig(engine)
    (mid,) = rig.send("+15550000001")
    rig.step()
    row = rig.row(mid)
    assert row.status == "sent" and row.carrier_id and row.sent_at == rig.clock() and row.due_at is None
    rig.step(0.5)
    assert rig.status(mid) == "sent"  # report latency is 1 s
    rig.step(0.6)
    assert rig.status(mid) == "delivered"
    assert rig.timeline(mid) == ["queued", "sending", "sent", "delivered"]
    assert rig.balance() == 99


def test_refused_submission_is_rejected_and_refunded_once(engine: Engine) -> None:
    rig = Rig(engine)
    (mid,) = rig.send("+15550000002")
    rig.step()
    row = rig.row(mid)
    assert (row.status, row.error_code) == ("rejected", "invalid_destination")
    assert rig.balance() == 100
    # A late receipt for a final message changes nothing and refunds nothing again.
    with engine.begin() as conn:
        record_receipt(
            conn, "simulator", Receipt(carrier_id="nope", status=MessageStatus.DELIVERED), now=rig.clock()
        )
    rig.step(5)
    with engine.connect() as conn:
        refunds = conn.execute(
            select(func.count()).select_from(ledger_entries).where(ledger_entries.c.kind == "refund")
        ).scalar_one()
    assert refunds == 1 and rig.balance() == 100


@pytest.mark.parametrize(
    ("number", "code"), [("+15550000003", "opted_out"), ("+15550000004", "destination_blocked")]
)
def test_other_refusals_carry_their_error_kind(engine: Engine, number: str, code: str) -> None:
    rig = Rig(engine)
    (mid,) = rig.send(number)
    rig.step()
    assert (rig.status(mid), rig.row(mid).error_code) == ("rejected", code)


def test_a_throttled_submission_waits_and_costs_no_attempt(engine: Engine) -> None:
    rig = Rig(engine)
    (mid,) = rig.send("+15550000005")  # throttled twice, then accepted
    rig.step()
    first = rig.row(mid)
    assert (first.status, first.attempts) == ("queued", 0)  # not an attempt: the carrier said "not now"
    delay1 = (first.due_at - rig.clock()).total_seconds()
    assert 0.5 <= delay1 <= 2.0
    rig.step(delay1)
    assert (rig.status(mid), rig.row(mid).attempts) == ("queued", 0)
    rig.step(2.0)
    assert rig.status(mid) == "sent"
    assert rig.row(mid).attempts == 1
    rig.step(1.0)
    assert rig.status(mid) == "delivered"
    assert rig.balance() == 99
    assert "throttled" in [e["error_code"] for e in rig.events(mid)]  # the throttles are in its timeline


def test_always_throttled_waits_until_its_validity_ends_then_expires_refunded(engine: Engine) -> None:
    rig = Rig(engine)
    (mid,) = rig.send("+15550000006", validity_seconds=120)
    for _ in range(30):
        rig.step(5)
    row = rig.row(mid)
    assert (row.status, row.error_code, row.attempts) == ("expired", "expired", 0)
    assert rig.balance() == 100


def test_never_reports_stays_sent_and_undelivered_reported(engine: Engine) -> None:
    rig = Rig(engine)
    silent, undeliv = rig.send(["+15550000007", "+15550000008"])
    rig.step()
    rig.step(5)
    assert rig.status(silent) == "sent"
    row = rig.row(undeliv)
    assert row.status == "undelivered" and row.error_code == "unknown"
    assert rig.balance() == 98  # submitted messages are not refunded


def test_reply_number_answers_with_an_inbound_message(engine: Engine) -> None:
    rig = Rig(engine)
    (mid,) = rig.send("+15550000009")
    rig.step()
    rig.step(1.0)
    rig.step(0.1)
    assert rig.status(mid) == "delivered"
    with engine.connect() as conn:
        inbound = conn.execute(select(messages).where(messages.c.direction == "inbound")).one()
    assert (inbound.from_addr, inbound.to_addr, inbound.status) == (
        "+15550000009",
        rig.tenant.number,
        "received",
    )
    assert inbound.body == "Thanks, got it!"


def test_scheduled_message_waits_for_its_time(engine: Engine) -> None:

    rig = Rig(engine)
    (mid,) = rig.send("+15550000001", schedule_at=rig.clock() + timedelta(minutes=10))
    rig.step(599)
    assert rig.status(mid) == "scheduled"
    rig.step(1)
    assert rig.status(mid) == "sent"
    assert rig.timeline(mid) == ["scheduled", "queued", "sending", "sent"]


def test_message_past_validity_expires_and_is_refunded(engine: Engine) -> None:
    rig = Rig(engine)
    (mid,) = rig.send("+15550000006", validity_seconds=3)  # throttled until it expires
    rig.step()
    assert rig.status(mid) == "queued"
    rig.step(10)
    row = rig.row(mid)
    assert (row.status, row.error_code) == ("expired", "expired")
    assert rig.balance() == 100


def test_dead_worker_lease_expires_and_another_worker_finishes(engine: Engine) -> None:
    rig = Rig(engine, lease=30)
    ids = rig.send(["+15550001001", "+15550001002", "+15550001003"])
    claimed = rig.worker.claim()  # w1 claims, then "dies" without recording anything
    assert {r["id"] for r in claimed} == set(ids)
    other = rig.new_worker("w2")
    rig.clock.advance(10)
    assert run(other.run_once()) == 0  # the lease still holds
    rig.clock.advance(25)
    assert run(other.run_once()) == 3
    assert {rig.status(i) for i in ids} == {"sent"}
    # The dead worker's late answer is ignored: it no longer holds the lease.
    rig.worker.record(claimed, ["LATE"] * 3)
    assert {rig.row(i).carrier_id for i in ids} != {"LATE"}
    rig.step(2)
    assert {rig.status(i) for i in ids} == {"delivered"}
    assert rig.balance() == 97


def test_a_late_record_leaves_messages_reclaimed_by_another_worker_alone(engine: Engine) -> None:
    rig = Rig(engine, lease=30)
    ids = rig.send(["+15550001001", "+15550001002", "+15550001003"])
    claimed = rig.worker.claim()  # w1 claims all three, then stalls past its lease on the first one
    with engine.begin() as conn:
        later = rig.clock() + timedelta(hours=1)
        conn.execute(messages.update().where(messages.c.id.in_(ids[1:])).values(due_at=later))
    rig.clock.advance(31)
    other = rig.new_worker("w2")
    (taken,) = other.claim()
    assert taken["id"] == ids[0]
    # w1's answers arrive: every one an acceptance, but one message is no longer w1's.
    rig.worker.record(claimed, ["W1-A", "W1-B", "W1-C"])
    assert (rig.status(ids[0]), rig.row(ids[0]).carrier_id) == ("sending", None)  # still w2's
    assert [(rig.status(i), rig.row(i).carrier_id) for i in ids[1:]] == [("sent", "W1-B"), ("sent", "W1-C")]
    other.record([taken], ["W2-A"])
    assert (rig.status(ids[0]), rig.row(ids[0]).carrier_id) == ("sent", "W2-A")
    assert [rig.timeline(i).count("sent") for i in ids] == [1, 1, 1]


def test_resubmission_after_crash_reports_once(engine: Engine) -> None:
    rig = Rig(engine, lease=5)
    (mid,) = rig.send("+15550001001")
    claimed = rig.worker.claim()
    run(rig.sim.submit_many([_outbound(claimed[0])]))  # the carrier has it; the worker dies before recording
    rig.clock.advance(rig.worker.lease.total_seconds() + 1)
    before = _resubmissions("lease_expired")
    run(rig.new_worker("w2").run_once())
    assert _resubmissions("lease_expired") == before + 1
    resubmitted = [e for e in rig.events(mid) if (e["detail"] or {}).get("resubmission")]
    assert [e["detail"]["resubmission"] for e in resubmitted] == ["lease_expired"]
    rig.step(2)
    assert rig.status(mid) == "delivered"
    assert rig.timeline(mid).count("delivered") == 1


def _resubmissions(reason: str) -> float:
    from prometheus_client import REGISTRY

    return REGISTRY.get_sample_value("textgate_resubmissions_total", {"reason": reason}) or 0.0


def test_receipt_before_submit_answer_is_not_lost(engine: Engine) -> None:
    rig = Rig(engine)
    (mid,) = rig.send("+15550001001")
    claimed = rig.worker.claim()
    (carrier_id,) = run(rig.sim.submit_many([_outbound(claimed[0])]))
    rig.clock.advance(2)
    assert run(rig.sim.report_due()) == 0  # the receipt is due but cannot be matched yet: kept
    rig.worker.record(claimed, [carrier_id])
    rig.clock.advance(1)
    run(rig.sim.report_due())
    assert rig.status(mid) == "delivered"


def test_status_webhooks_are_queued_for_final_statuses(engine: Engine) -> None:
    rig = Rig(engine)
    with engine.begin() as conn:
        create_endpoint(
            conn,
            rig.tenant.account.id,
            "http://127.0.0.1:9/hook",
            ["message.status"],
            now=rig.clock(),
            allow_private=True,
        )
    (mid,) = rig.send("+15550000001")
    rig.step()
    rig.step(1.5)
    with engine.connect() as conn:
        events = (
            conn.execute(
                select(webhook_deliveries.c.payload)
                .where(webhook_deliveries.c.order_key == mid)
                .order_by(webhook_deliveries.c.seq)
            )
            .scalars()
            .all()
        )
    import json

    assert [json.loads(p)["data"]["status"] for p in events] == ["sent", "delivered"]
    assert all(json.loads(p)["type"] == "message.status" for p in events)


def _outbound(row: dict[str, Any]) -> Any:
    from textgate.providers.base import OutboundMessage

    return OutboundMessage.from_row(row)


def test_success_after_retries_clears_the_error(engine: Engine) -> None:
    rig = Rig(engine)
    (mid,) = rig.send("+15550000005")
    for _ in range(4):
        rig.step(10)
    row = rig.row(mid)
    assert row.status == "delivered"
    assert (row.error_code, row.error_message) == (None, None)


def test_retry_never_waits_past_expiry(engine: Engine) -> None:
    rig = Rig(engine)
    rig.worker.retry = RetryPolicy(base_seconds=100.0, max_seconds=1000.0, max_attempts=4)
    (mid,) = rig.send("+15550000006", validity_seconds=30)
    rig.step()
    assert rig.row(mid).due_at == rig.row(mid).expires_at
    rig.step(30)
    assert rig.status(mid) == "expired"


def test_concurrent_workers_claim_disjoint_batches(engine: Engine) -> None:
    """Several workers (threads here, nodes in production) share the queue without claiming twice."""
    import threading

    rig = Rig(engine, credits=1000)
    ids = set(rig.send([f"+1555{2_000_000 + i:07d}" for i in range(90)]))
    workers = [rig.new_worker(f"w{n}") for n in range(3)]
    for w in workers:
        w.batch = 20
    claimed: dict[str, list[str]] = {w.worker_id: [] for w in workers}
    barrier = threading.Barrier(len(workers))

    def drain(w: DispatchWorker) -> None:
        barrier.wait()
        while batch := w.claim():
            claimed[w.worker_id] += [r["id"] for r in batch]

    threads = [threading.Thread(target=drain, args=(w,)) for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    everything = [i for got in claimed.values() for i in got]
    assert sorted(everything) == sorted(ids)  # each message claimed exactly once
    with engine.connect() as conn:
        owners = dict(conn.execute(select(messages.c.id, messages.c.lease_owner)).all())
    for worker_id, got in claimed.items():
        assert all(owners[i] == worker_id for i in got)


def test_a_round_tells_the_connector_once_its_answers_are_recorded(engine: Engine) -> None:
    rig = Rig(engine)
    seen: list[set[str]] = []

    def recorded() -> None:  # what the connector can see when it is told: the carrier ids are stored
        with engine.connect() as conn:
            seen.append({r for r in conn.execute(select(messages.c.carrier_id)).scalars() if r})

    rig.sim.recorded = recorded  # type: ignore[method-assign]
    ids = rig.send(["+15550001001", "+15550001002"])
    assert run(rig.worker.run_once()) == 2
    assert len(seen) == 1 and len(seen[0]) == 2
    assert {rig.row(i).carrier_id for i in ids} == seen[0]
    assert run(rig.worker.run_once()) == 0
    assert len(seen) == 1  # an empty round records nothing and says nothing


def test_record_and_claim_stores_a_round_and_takes_the_next_in_one_go(engine: Engine) -> None:
    rig = Rig(engine, credits=1000)
    rig.worker.batch = 3
    first = rig.send([f"+1555{3_000_000 + i:07d}" for i in range(3)])
    claimed = rig.worker.claim()
    assert sorted(r["id"] for r in claimed) == sorted(first)
    second = rig.send([f"+1555{3_000_100 + i:07d}" for i in range(2)])
    taken = rig.worker.record_and_claim(claimed, ["C-1", "C-2", "C-3"])
    assert sorted(r["id"] for r in taken) == sorted(second)
    assert {rig.row(i).status for i in first} == {"sent"}
    assert sorted(rig.row(i).carrier_id for i in first) == ["C-1", "C-2", "C-3"]
    assert {(rig.row(i).status, rig.row(i).lease_owner) for i in second} == {("sending", "w1")}


def test_a_failed_claim_does_not_undo_the_round_it_was_joined_to(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    rig = Rig(engine, credits=1000)
    first = rig.send(["+15553000201", "+15553000202"])
    claimed = rig.worker.claim()
    rig.send("+15553000203")

    def broken(conn: Any, now: Any) -> Any:
        conn.execute(messages.update().values(body="clobbered"))  # written, then rolled back
        raise RuntimeError("claim failed")

    monkeypatch.setattr(rig.worker, "_claim_in", broken)
    assert rig.worker.record_and_claim(claimed, ["C-1", "C-2"]) == []
    assert [rig.row(i).status for i in first] == ["sent", "sent"]
    with engine.connect() as conn:
        assert "clobbered" not in set(conn.execute(select(messages.c.body)).scalars())


def test_the_running_loop_drains_full_rounds_and_finishes_a_claimed_round_on_stop(engine: Engine) -> None:
    rig = Rig(engine, credits=1000)
    rig.worker.batch = 4
    ids = rig.send([f"+1555{3_000_300 + i:07d}" for i in range(10)])
    joined: list[int] = []
    record_and_claim = rig.worker.record_and_claim

    def counting(claimed: Any, outcomes: Any, room: Any = None) -> Any:
        taken = record_and_claim(claimed, outcomes, room)
        joined.append(len(taken))
        return taken

    rig.worker.record_and_claim = counting  # type: ignore[method-assign]

    async def scenario() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(rig.worker.run(stop))
        for _ in range(200):
            await asyncio.sleep(0.01)
            if all(rig.status(i) == "sent" for i in ids):
                break
        stop.set()
        await asyncio.wait_for(task, 5)

    run(scenario())
    assert {rig.status(i) for i in ids} == {"sent"}
    assert joined[:2] == [4, 2]  # full rounds: 4 recorded with the next 4 taken, then with the last 2
    with engine.connect() as conn:  # nothing left under a lease
        assert conn.execute(select(func.count()).where(messages.c.lease_owner.is_not(None))).scalar_one() == 0


def test_nothing_is_claimed_while_the_connector_can_take_nothing_but_validity_still_ends(
    engine: Engine,
) -> None:
    rig = Rig(engine)
    rig.worker.expiry_sweep_seconds = 0.0
    room = [0]
    rig.sim.capacity = lambda: room[0]  # type: ignore[method-assign]
    (long_lived,) = rig.send("+15550001002")
    (short,) = rig.send("+15550001003", validity_seconds=30)
    rig.step()
    assert [(rig.status(m), rig.row(m).attempts) for m in (long_lived, short)] == [
        ("queued", 0),
        ("queued", 0),
    ]
    rig.step(31)
    assert rig.status(short) == "expired" and rig.status(long_lived) == "queued"
    assert rig.balance() == 99  # 100 credits, one spent: the expired one was refunded
    room[0] = 10  # the carrier is back
    rig.step()
    assert rig.status(long_lived) == "sent"


def test_the_lease_covers_the_longest_round_the_connector_may_take(engine: Engine) -> None:
    rig = Rig(engine, lease=5)
    rig.sim.round_seconds = lambda: 50.0  # type: ignore[method-assign]
    assert rig.new_worker("w9", lease=5).lease.total_seconds() == 60.0
