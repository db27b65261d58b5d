"""Delivery through a whole gateway (router, dispatcher, database) and the node SMSC peer behaving like a
real carrier: long messages retried by part under one concatenation reference, part receipts rolled up,
receipts that overtake their answers, late answers, restarts, and an SMSC that goes away for a while."""

from __future__ import annotations

import asyncio
from collections import Counter

from prometheus_client import REGISTRY
from sqlalchemy import Engine, func, select

from tests.providers.smpp.gateway import gateway
from tests.providers.smpp.peer import Smsc
from tests.providers.smpp.support import eventually, run
from textgate.domain.encoding import split
from textgate.providers.smpp.connector import concat_reference
from textgate.store.schema import early_receipts, inbound_parts

GSM_TEXT = "".join(f"Part text {i:03d} with GSM-7 only [brackets] cost two. " for i in range(8))[:420]
UCS2_TEXT = ("Привет мир! Ünïcødé and emoji 🙂 " * 6)[:170]


def udh_of(submit: dict) -> tuple[int, int, int]:
    (ie,) = submit["udh"]
    assert ie.startswith("0003"), ie
    return int(ie[4:6], 16), int(ie[6:8], 16), int(ie[8:10], 16)


async def submits_to(smsc: Smsc, dest: str) -> list[dict]:
    return [s for s in await smsc.received("submit_sm") if s["destination_addr"] == dest]


def count(engine: Engine, table: object) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())  # type: ignore[arg-type]


def test_a_long_message_under_throttling_reaches_the_handset_as_one_complete_set(
    engine: Engine, smsc: Smsc
) -> None:
    assert len(split(GSM_TEXT)) == 3

    async def body() -> None:
        await smsc.rule("447400900051", throttle_every=2)
        async with gateway(engine, smsc) as rig:
            (mid,) = rig.send("+447400900051", GSM_TEXT)
            await rig.wait_status(mid, "delivered")
            parts = rig.parts(mid)
        accepted = [s for s in await submits_to(smsc, "447400900051") if s["status"] == 0]
        assert sorted(udh_of(s)[1:] for s in accepted) == [(3, 1), (3, 2), (3, 3)]  # each part once
        assert {udh_of(s)[0] for s in accepted} == {concat_reference(mid) & 0xFF}  # one reference
        assert "".join(s["text"] for s in sorted(accepted, key=lambda s: udh_of(s)[2])) == GSM_TEXT
        assert [(p["part"], p["status"]) for p in parts] == [
            (1, "delivered"),
            (2, "delivered"),
            (3, "delivered"),
        ]
        assert rig.row(mid)["attempts"] == 1  # the throttles cost no attempt

    run(body(), timeout=40)


def test_only_the_refused_part_is_sent_again_with_the_same_reference_and_number(
    engine: Engine, smsc: Smsc
) -> None:
    async def body() -> None:
        await smsc.rule("447400900052", fail_parts={"2": "ESME_RSYSERR"})
        async with gateway(engine, smsc) as rig:
            (mid,) = rig.send("+447400900052", UCS2_TEXT)
            await rig.wait_status(mid, "delivered")
            events = rig.events(mid)
        submits = await submits_to(smsc, "447400900052")
        assert [(udh_of(s)[2], s["status"]) for s in submits].count((2, 0)) == 1
        assert sorted(udh_of(s)[2] for s in submits) == [1, 2, 2, 3]  # part 2 refused once, sent again
        assert {udh_of(s)[0] for s in submits} == {concat_reference(mid) & 0xFF}
        assert all(s["data_coding"] == 8 for s in submits)
        refused = [e for e in events if e["status"] == "queued" and e["error_code"] == "provider_error"]
        assert len(refused) == 1 and "ESME_RSYSERR" in refused[0]["detail"]["error"]
        assert refused[0]["source"] == "submit:smsc1"

    run(body(), timeout=40)


def test_part_receipts_roll_up_and_the_first_failing_part_decides(engine: Engine, smsc: Smsc) -> None:
    async def body() -> None:
        await smsc.rule("447400900053", receipt_parts={"2": "UNDELIV"})
        async with gateway(engine, smsc) as rig:
            (mid,) = rig.send("+447400900053", GSM_TEXT)
            await rig.wait_status(mid, "undelivered")
            row = rig.row(mid)
            parts = rig.parts(mid)
        assert row["error_message"].startswith("part 2: ")
        assert [p["status"] for p in parts] == ["delivered", "undelivered", "delivered"]

    run(body(), timeout=40)


def test_with_first_part_rollup_only_the_first_part_decides(engine: Engine, smsc: Smsc) -> None:
    async def body() -> None:
        await smsc.rule("447400900054", receipt_parts={"2": "UNDELIV"})
        async with gateway(engine, smsc, part_rollup="first_part") as rig:
            (mid,) = rig.send("+447400900054", GSM_TEXT)
            await rig.wait_status(mid, "delivered")

    run(body(), timeout=40)


def test_a_receipt_that_overtakes_its_answer_is_kept_in_the_database_and_applied(
    engine: Engine, smsc: Smsc
) -> None:
    async def body() -> None:
        await smsc.rule("447400900055", receipt_before_resp=True, resp_delay_ms=300, receipt_id="dec")
        async with gateway(engine, smsc) as rig:
            ids = rig.send([f"+44740090005{i}" for i in range(5, 6)], "overtaken")
            await eventually(lambda: count(engine, early_receipts) >= 1, what="the early receipt stored")
            await rig.wait_status(ids[0], "delivered")
            assert count(engine, early_receipts) == 0  # applied, and forgotten
            assert [e["status"] for e in rig.events(ids[0])][-2:] == ["sent", "delivered"]

    run(body(), timeout=30)


def test_a_late_answer_records_the_message_as_sent_and_nothing_goes_twice(engine: Engine, smsc: Smsc) -> None:
    async def body() -> None:
        await smsc.rule("447400900056", resp_delay_ms=1200)
        async with gateway(engine, smsc, submit_timeout=0.4, resubmit_after=10.0) as rig:
            (mid,) = rig.send("+447400900056", "answered late")
            await rig.wait_status(mid, "delivered")
            events = rig.events(mid)
        assert len(await submits_to(smsc, "447400900056")) == 1
        assert any(e["error_code"] == "unknown_outcome" for e in events)
        assert any((e["detail"] or {}).get("late_answer") for e in events)
        assert not any((e["detail"] or {}).get("resubmission") for e in events)

    run(body(), timeout=30)


def test_no_answer_at_all_is_resubmitted_after_the_window_once_and_counted(
    engine: Engine, smsc: Smsc
) -> None:
    before = REGISTRY.get_sample_value("textgate_resubmissions_total", {"reason": "no_answer"}) or 0.0

    async def body() -> None:
        await smsc.rule("447400900057", slow_first=1, slow_ms=20_000)
        async with gateway(engine, smsc, submit_timeout=0.3, resubmit_after=0.5) as rig:
            (mid,) = rig.send("+447400900057", "the first answer never comes in time")
            await rig.wait_status(mid, "delivered")
            events = rig.events(mid)
            assert rig.row(mid)["attempts"] == 1  # waiting on an unknown outcome is not an attempt
        assert len(await submits_to(smsc, "447400900057")) == 2
        assert [(e["detail"] or {}).get("resubmission") for e in events].count("no_answer") == 1

    run(body(), timeout=30)
    after = REGISTRY.get_sample_value("textgate_resubmissions_total", {"reason": "no_answer"}) or 0.0
    assert after == before + 1


def test_long_message_parts_still_roll_up_after_a_restart(engine: Engine, smsc: Smsc) -> None:
    async def body() -> None:
        await smsc.rule("447400900058", receipt=None)  # receipts are pushed by hand, after the restart
        async with gateway(engine, smsc) as rig:
            (mid,) = rig.send("+447400900058", GSM_TEXT)
            await rig.wait_status(mid, "sent")
            tenant = rig.tenant
        ids = [s["message_id"] for s in await submits_to(smsc, "447400900058")]
        assert len(ids) == 3
        async with gateway(engine, smsc, tenant=tenant) as rig:  # a new process on the same database
            for message_id, stat in zip(ids, ["DELIVRD", "UNDELIV", "DELIVRD"], strict=True):
                text = f"id:{message_id} sub:001 dlvrd:001 submit date:2612071200 done date:2612071201"
                await smsc.deliver(
                    source="447400900058", dest="15551230001", text=f"{text} stat:{stat} err:0", esm_class=4
                )
            await rig.wait_status(mid, "undelivered")
            assert [p["status"] for p in rig.parts(mid)] == ["delivered", "undelivered", "delivered"]

    run(body(), timeout=40)


def test_a_long_inbound_message_is_put_together_across_a_restart(engine: Engine, smsc: Smsc) -> None:
    async def body() -> None:
        text = "A long reply from a handset, sent in three parts that straddle a restart of the gateway."
        async with gateway(engine, smsc) as rig:
            sent = await smsc.deliver(
                source="447400900059", dest="15551230001", text=text, parts=3, only=[1, 2]
            )
            assert sent["sent"] == 2
            await eventually(lambda: count(engine, inbound_parts) == 2, what="two parts stored")
            tenant = rig.tenant
        async with gateway(engine, smsc, tenant=tenant):
            await smsc.deliver(source="447400900059", dest="15551230001", text=text, parts=3, only=[3])
            await eventually(lambda: count(engine, inbound_parts) == 0, what="the set complete")
        with engine.connect() as conn:
            from textgate.store.schema import messages

            bodies = list(
                conn.execute(select(messages.c.body).where(messages.c.direction == "inbound")).scalars()
            )
        assert bodies == [text]

    run(body(), timeout=40)


def test_while_the_smsc_is_away_messages_wait_and_then_go_oldest_first(engine: Engine, smsc: Smsc) -> None:
    async def body() -> None:
        async with gateway(engine, smsc) as rig:
            connector = rig.gateway.connectors()["smsc1"]
            await smsc.outage(3.0)
            await eventually(lambda: connector.health().value == "down", what="the outage noticed")
            ids = []
            for i in range(12):
                ids += rig.send(f"+4474009006{i:02d}", f"queued during the outage {i}")
                await asyncio.sleep(0.02)
            await asyncio.sleep(1.0)
            assert {rig.status(i) for i in ids} == {"queued"}
            assert {rig.row(i)["attempts"] for i in ids} == {0}  # no attempt spent on a carrier away
            for message_id in ids:
                await rig.wait_status(message_id, "delivered", timeout=20)
        order = [s["destination_addr"] for s in await smsc.received("submit_sm")]
        assert order == [f"4474009006{i:02d}" for i in range(12)]  # oldest first
        assert Counter(order).most_common(1)[0][1] == 1

    run(body(), timeout=45)
