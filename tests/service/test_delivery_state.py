"""Delivery state in the database, on a hand-driven clock: early receipts, the parts of long messages and
their roll-up, late answers, long inbound messages, and the housekeeping that looks after their waits."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from prometheus_client import REGISTRY
from sqlalchemy import Engine, func, select

from tests.helpers import ManualClock, make_tenant
from textgate.domain.message import MessageStatus
from textgate.providers.base import (
    Connector,
    Deferred,
    Health,
    InboundPart,
    LateAnswer,
    OutboundMessage,
    Partial,
    Receipt,
    SubmitOutcome,
    Submitted,
    Unknown,
)
from textgate.service.inbound import receive_inbound_part
from textgate.service.messages import message_events_view
from textgate.service.receipts import keep_early, record_receipts
from textgate.service.send import SendRequest, send_messages
from textgate.service.submissions import record_late_answer
from textgate.store.fast import fetch_dicts
from textgate.store.schema import early_receipts, inbound_parts, message_parts, messages
from textgate.workers.dispatch import DispatchWorker
from textgate.workers.housekeeping import Housekeeping

LONG = "x" * 400  # three GSM-7 parts


class Scripted(Connector):
    """Answers each round with what the test queued up (the dispatcher's view of a carrier)."""

    name = "smsc1"

    def __init__(self) -> None:
        self.next: list[SubmitOutcome] = []
        self.seen: list[OutboundMessage] = []

    async def submit(self, message: OutboundMessage) -> str:
        raise AssertionError("submit_many is used")

    async def submit_many(self, messages: list[OutboundMessage]) -> list[SubmitOutcome]:
        self.seen += messages
        out, self.next = self.next[: len(messages)], self.next[len(messages) :]
        return out

    def health(self) -> Health:
        return Health.UP


class Rig:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.clock = ManualClock()
        self.tenant = make_tenant(engine, now=self.clock())
        self.carrier = Scripted()
        self.worker = DispatchWorker(engine, self.carrier, clock=self.clock, worker_id="w1")
        self.housekeeping = Housekeeping(engine, clock=self.clock)

    def send(self, body: str = "hello", to: str = "+15550001001") -> str:
        req = SendRequest(sender=self.tenant.number, to=[to], body=body)
        with self.engine.begin() as conn:
            return str(
                send_messages(conn, self.tenant.account, req, now=self.clock()).body["messages"][0]["id"]
            )

    def round(self, *outcomes: SubmitOutcome) -> list[OutboundMessage]:
        import asyncio

        self.carrier.next = list(outcomes)
        self.carrier.seen = []
        asyncio.run(self.worker.run_once())
        return self.carrier.seen

    def receipts(self, *receipts: Receipt, keep: bool = True) -> list[str | None]:
        with self.engine.begin() as conn:
            return record_receipts(conn, "smsc1", list(receipts), now=self.clock(), keep=keep)

    def row(self, message_id: str) -> dict[str, Any]:
        with self.engine.connect() as conn:
            return fetch_dicts(conn, select(messages).where(messages.c.id == message_id))[0]

    def parts(self, message_id: str) -> list[tuple[int, str, str | None]]:
        with self.engine.connect() as conn:
            q = (
                select(message_parts)
                .where(message_parts.c.message_id == message_id)
                .order_by(message_parts.c.part)
            )
            return [(r["part"], r["status"], r["carrier_id"]) for r in fetch_dicts(conn, q)]

    def count(self, table: Any) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(table)).scalar_one())

    def events(self, message_id: str) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            return message_events_view(conn, self.tenant.account.id, message_id)


def delivered(carrier_id: str, *alternatives: str, rollup: str = "all", wait: float = 3600.0) -> Receipt:
    return Receipt(
        carrier_id, MessageStatus.DELIVERED, alternatives=alternatives, rollup=rollup, rollup_wait=wait
    )


def undelivered(carrier_id: str, *, rollup: str = "all", wait: float = 3600.0) -> Receipt:
    return Receipt(
        carrier_id,
        MessageStatus.UNDELIVERED,
        error_message="absent subscriber",
        rollup=rollup,
        rollup_wait=wait,
    )


def test_an_early_receipt_waits_in_the_database_and_applies_when_its_message_is_recorded(
    engine: Engine,
) -> None:
    rig = Rig(engine)
    mid = rig.send()
    assert rig.receipts(delivered("c1", "c1-dec")) == [None]  # nothing has that id yet: kept
    assert rig.count(early_receipts) == 2  # one row per reading of the id
    rig.round("c1")
    assert rig.row(mid)["status"] == "delivered"
    assert rig.count(early_receipts) == 0
    assert [e["status"] for e in rig.events(mid)][-2:] == ["sent", "delivered"]


def test_the_second_reading_of_an_id_matches_too(engine: Engine) -> None:
    rig = Rig(engine)
    mid = rig.send()
    rig.round("f4241")
    assert rig.receipts(delivered("1000001", "f4241")) == ["f4241"]
    assert rig.row(mid)["status"] == "delivered"


def test_housekeeping_applies_a_receipt_left_behind_and_drops_expired_ones(engine: Engine) -> None:
    rig = Rig(engine)
    mid = rig.send()
    rig.round("c2")
    with engine.begin() as conn:  # as if stored by a transaction that raced the round's record
        keep_early(conn, "smsc1", [delivered("c2")], now=rig.clock(), keep_for=timedelta(hours=1))
        keep_early(conn, "smsc1", [delivered("never")], now=rig.clock(), keep_for=timedelta(seconds=30))
    rig.clock.advance(3)
    rig.housekeeping.run_once()
    assert rig.row(mid)["status"] == "delivered"
    assert rig.count(early_receipts) == 1  # the one nothing matches waits on
    rig.clock.advance(30)
    rig.housekeeping.run_once()
    assert rig.count(early_receipts) == 0


def test_a_long_message_is_sent_part_by_part_and_rolls_up(engine: Engine) -> None:
    rig = Rig(engine)
    mid = rig.send(LONG)
    throttled = Deferred(1.0, "throttled by the SMSC")
    (first,) = rig.round(Partial({1: "p1", 3: "p3"}, (), 3, throttled, connector="smsc1"))
    assert first.parts_done is None
    assert rig.row(mid)["status"] == "queued" and rig.row(mid)["attempts"] == 0
    assert rig.parts(mid) == [(1, "sent", "p1"), (3, "sent", "p3")]
    rig.receipts(delivered("p1"))  # part 1 reports before part 2 was even sent
    rig.clock.advance(2)
    (second,) = rig.round(Submitted("p1", "smsc1", parts={2: "p2"}, total=3))
    assert second.parts_done == {1: "p1", 3: "p3"} and second.pinned == "smsc1"
    assert rig.row(mid)["status"] == "sent" and rig.row(mid)["carrier_id"] == "p1"
    rig.receipts(delivered("p2"))
    assert rig.row(mid)["status"] == "sent"  # part 3 has not reported
    rig.receipts(delivered("p3"))
    assert rig.row(mid)["status"] == "delivered"
    assert [p[1] for p in rig.parts(mid)] == ["delivered", "delivered", "delivered"]


def test_a_failed_part_decides_once_the_others_reported_or_its_wait_is_over(engine: Engine) -> None:
    rig = Rig(engine)
    mid = rig.send(LONG)
    rig.round(Submitted("q1", "smsc1", parts={1: "q1", 2: "q2", 3: "q3"}, total=3))
    rig.receipts(delivered("q1", wait=10), undelivered("q2", wait=10))
    rig.housekeeping.run_once()
    assert rig.row(mid)["status"] == "sent"  # part 3 may still report
    rig.clock.advance(11)
    rig.housekeeping.run_once()
    row = rig.row(mid)
    assert row["status"] == "undelivered"
    assert row["error_message"] == "part 2: absent subscriber; 1 of 3 parts did not report"


def test_first_failure_rollup_decides_at_once(engine: Engine) -> None:
    rig = Rig(engine)
    mid = rig.send(LONG)
    rig.round(Submitted("r1", "smsc1", parts={1: "r1", 2: "r2", 3: "r3"}, total=3))
    rig.receipts(undelivered("r3", rollup="first_failure"))
    assert rig.row(mid)["status"] == "undelivered"


def test_unknown_parts_wait_and_a_late_answer_settles_one(engine: Engine) -> None:
    rig = Rig(engine)
    mid = rig.send(LONG)
    no_answer = Unknown(60.0, "no answer", connector="smsc1")
    rig.round(Partial({1: "s1"}, (2, 3), 3, no_answer, connector="smsc1"))
    row = rig.row(mid)
    assert (row["status"], row["lease_owner"], row["attempts"]) == ("sending", None, 0)
    assert rig.parts(mid) == [(1, "sent", "s1"), (2, "unknown", None), (3, "unknown", None)]
    with engine.begin() as conn:
        record_late_answer(conn, "smsc1", LateAnswer(mid, "s2", part=2, total=3), now=rig.clock())
    assert rig.parts(mid)[1] == (2, "sent", "s2")
    rig.clock.advance(61)
    (again,) = rig.round(Submitted("s1", "smsc1", parts={3: "s3"}, total=3))
    assert again.parts_done == {1: "s1", 2: "s2"}  # only part 3 goes again
    assert rig.row(mid)["status"] == "sent"
    assert [(e["detail"] or {}).get("resubmission") for e in rig.events(mid)].count("no_answer") == 1


def test_a_late_answer_after_the_resubmission_is_a_counted_duplicate(engine: Engine) -> None:
    rig = Rig(engine)
    mid = rig.send()
    rig.round(Unknown(5.0, "no answer", connector="smsc1"))
    rig.clock.advance(6)
    rig.round("t2")  # submitted again, taken
    before = REGISTRY.get_sample_value("textgate_submission_duplicates_total", {"connector": "smsc1"}) or 0
    with engine.begin() as conn:
        outcome = record_late_answer(conn, "smsc1", LateAnswer(mid, "t1"), now=rig.clock())
    assert outcome == "duplicate"
    after = REGISTRY.get_sample_value("textgate_submission_duplicates_total", {"connector": "smsc1"})
    assert after == before + 1
    assert rig.row(mid)["carrier_id"] == "t2"
    assert any(e["error_code"] == "duplicate_submission" for e in rig.events(mid))


def test_a_late_answer_while_parked_records_it_as_sent(engine: Engine) -> None:
    rig = Rig(engine)
    mid = rig.send()
    rig.round(Unknown(60.0, "no answer", connector="smsc1"))
    with engine.begin() as conn:
        assert record_late_answer(conn, "smsc1", LateAnswer(mid, "u1"), now=rig.clock()) == "recorded"
    row = rig.row(mid)
    assert (row["status"], row["carrier_id"], row["due_at"]) == ("sent", "u1", None)
    rig.clock.advance(61)
    assert rig.round() == []  # nothing is submitted again


def test_a_long_inbound_message_waits_for_its_parts_then_reports_what_came(engine: Engine) -> None:
    rig = Rig(engine)

    def part(n: int, text: str) -> InboundPart:
        return InboundPart(
            key="k1",
            number=n,
            total=3,
            text=text,
            from_addr="+15550002002",
            to_addr=rig.tenant.number,
            wait=60,
        )

    with engine.begin() as conn:
        assert receive_inbound_part(conn, "smsc1", part(2, "two "), now=rig.clock()) is None
        assert receive_inbound_part(conn, "smsc1", part(2, "two "), now=rig.clock()) is None  # a repeat
        assert receive_inbound_part(conn, "smsc1", part(1, "one "), now=rig.clock()) is None
    assert rig.count(inbound_parts) == 2
    rig.clock.advance(61)
    rig.housekeeping.run_once()
    assert rig.count(inbound_parts) == 0
    with engine.connect() as conn:
        (row,) = fetch_dicts(conn, select(messages).where(messages.c.direction == "inbound"))
    assert row["body"] == "one two "
    assert row["meta"]["raw"]["incomplete"] is True


def shown(carrier_id: str, handset: str, text: str) -> Receipt:
    """A receipt as an SMSC writes it for a submit whose answer was lost: an id never seen, the handset
    as its source, the start of the message as its text."""
    return Receipt(carrier_id, MessageStatus.DELIVERED, raw={"source": handset, "message_text": text[:20]})


def test_a_kept_receipt_shows_the_carrier_had_a_message_whose_answer_was_lost(engine: Engine) -> None:
    rig = Rig(engine)
    mid = rig.send("Your code is 482913, valid 10 minutes")
    rig.round(Unknown(5.0, "the connection dropped", connector="smsc1"))
    assert rig.receipts(shown("v1", "+15550001001", "Your code is 482913, valid 10 minutes")) == [None]
    rig.clock.advance(6)
    assert rig.round() == []  # not submitted again: the receipt settled it
    row = rig.row(mid)
    assert (row["status"], row["carrier_id"]) == ("delivered", "v1")
    assert any((e["detail"] or {}).get("settled_by_receipt") for e in rig.events(mid))
    assert rig.count(early_receipts) == 0


def test_the_same_receipt_sent_again_is_one_piece_of_evidence_not_two(engine: Engine) -> None:
    # An SMSC re-sends a deliver_sm it never saw answered (the session dropped first): two kept copies of
    # one receipt, one carrier id. They are the same evidence, not two candidates to choose between.
    rig = Rig(engine)
    mid = rig.send("Your parcel is on its way")
    rig.round(Unknown(5.0, "the connection dropped", connector="smsc1"))
    receipt = shown("z1", "+15550001001", "Your parcel is on its way")
    rig.receipts(receipt)
    rig.receipts(receipt)
    rig.clock.advance(6)
    assert rig.round() == []
    row = rig.row(mid)
    assert (row["status"], row["carrier_id"]) == ("delivered", "z1")
    assert rig.count(early_receipts) == 0


def test_a_receipt_that_could_be_either_of_two_messages_settles_neither(engine: Engine) -> None:
    rig = Rig(engine)
    first, second = rig.send("same text"), rig.send("same text")
    rig.round(Unknown(5.0, "no answer", connector="smsc1"), Unknown(5.0, "no answer", connector="smsc1"))
    rig.receipts(shown("w1", "+15550001001", "same text"))
    rig.clock.advance(6)
    again = rig.round("w2", "w3")
    assert sorted(m.id for m in again) == sorted([first, second])  # both go again: no guessing


def test_a_lost_part_is_recognised_by_its_receipt_and_only_the_rest_goes_again(engine: Engine) -> None:
    rig = Rig(engine)
    body = "".join(f"part {i} " * 22 for i in range(1, 4))[:400]
    from textgate.domain.encoding import split

    texts = split(body)
    mid = rig.send(body)
    rig.round(
        Partial(
            {1: "y1"}, (2, 3), len(texts), Unknown(5.0, "no answer", connector="smsc1"), connector="smsc1"
        )
    )
    rig.receipts(shown("y2", "+15550001001", texts[1]))
    rig.clock.advance(6)
    (again,) = rig.round(Submitted("y1", "smsc1", parts={3: "y3"}, total=len(texts)))
    assert again.parts_done == {1: "y1", 2: "y2"}
    assert rig.row(mid)["status"] == "sent"
