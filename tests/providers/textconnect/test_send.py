"""Send: one number, several numbers, long messages' part ids, schedule, validity, sender, body and the
account's per-recipient rules — each answered in Text-Connect's words."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from tests.helpers import ManualClock, Tenant, make_tenant
from tests.providers.textconnect import seed
from tests.providers.textconnect.util import PATH, TO, TO2, call, credits, message, send, stored, text
from textgate.service.accounts import update_account
from textgate.service.optouts import opt_out
from textgate.service.policy import block_number

MESSAGE_ID = re.compile(r"msg_[A-Za-z0-9]{22}")


def _ids(answer: str) -> list[str]:
    ids = answer.split(",")
    assert all(MESSAGE_ID.fullmatch(i) for i in ids), answer
    return ids


def _settings(engine: Engine, tenant: Tenant, **settings: object) -> None:
    with engine.begin() as conn:
        update_account(conn, tenant.account.id, settings=dict(settings))


def test_the_documents_example_url(client: TestClient, tenant: Tenant, engine: Engine) -> None:
    query = seed.example_query(seed.SEND_URL, tenant.key.secret, **{"Your Number": TO})
    response = client.get(f"{PATH}?{query}")
    assert response.status_code == 200
    (message_id,) = _ids(response.text)
    row = message(engine, message_id)
    assert (row.from_addr, row.to_addr, row.body, row.status) == (
        "API",
        "+447777777771",
        "Hello World",
        "queued",
    )
    assert text(client, tenant, "CheckCredits") == "99"
    assert text(client, tenant, "CheckMessageStatus", MessageID=message_id) == "Pending"


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_several_numbers_answer_in_order_with_an_invalid_one_in_place(
    client: TestClient, tenant: Tenant, engine: Engine, method: str
) -> None:
    response = call(
        client,
        tenant,
        "Send",
        method=method,
        DestinationAddress=f"{TO},12345,{TO2}",
        SourceAddress="API",
        Body="Hello World",
    )
    first, bad, third = response.text.split(",")
    assert bad == "-401"
    _ids(f"{first},{third}")
    assert (message(engine, first).to_addr, message(engine, third).to_addr) == (
        "+447777777771",
        "+447777777772",
    )
    assert stored(engine) == 2 and credits(engine, tenant) == 98


def test_only_invalid_numbers(client: TestClient, tenant: Tenant, engine: Engine) -> None:
    assert send(client, tenant, DestinationAddress="abc,123") == "-401,-401"
    assert send(client, tenant, DestinationAddress="") == "-401"
    assert stored(engine) == 0 and credits(engine, tenant) == 100


def test_get_all_message_ids_lists_every_part(client: TestClient, tenant: Tenant, engine: Engine) -> None:
    two_parts, three_parts = "a" * 200, "b" * 400
    plain = _ids(send(client, tenant, Body=two_parts))
    assert len(plain) == 1  # by default only the first part's id
    answer = send(client, tenant, DestinationAddress=f"{TO},{TO2}", Body=two_parts, GetAllMessageIDs=1)
    a, a2, b, b2 = answer.split(",")
    assert (a2, b2) == (f"{a}-2", f"{b}-2")
    answer = send(client, tenant, Body=three_parts, GetAllMessageIDs=1)
    c, c2, c3 = answer.split(",")
    assert (c2, c3) == (f"{c}-2", f"{c}-3")
    assert message(engine, c).segments == 3
    for part in (c, c2, c3):
        assert text(client, tenant, "CheckMessageStatus", MessageID=part) == "Pending"
    assert text(client, tenant, "CheckMessageStatus", MessageID=f"{c}-4") == "-503"
    assert text(client, tenant, "CheckMessageStatus", MessageID=f"{plain[0]}-3") == "-503"


def test_schedule_date_is_in_the_accounts_time_zone(
    client: TestClient, tenant: Tenant, engine: Engine
) -> None:
    _settings(engine, tenant, timezone="America/New_York")  # UTC-4 in March 2026 (after the 8th)
    (message_id,) = _ids(send(client, tenant, ScheduleDate="20260316090000"))
    row = message(engine, message_id)
    assert row.schedule_at.astimezone(UTC) == datetime(2026, 3, 16, 13, 0, tzinfo=UTC)
    assert text(client, tenant, "CheckMessageStatus", MessageID=message_id) == "Scheduled"


@pytest.mark.parametrize(
    "value",
    ["2026031609", "2026-03-16 09:00:00", "20261340000000", "20260230120000", "20280101000000", "x" * 14],
)
def test_an_invalid_schedule_date(client: TestClient, tenant: Tenant, engine: Engine, value: str) -> None:
    assert send(client, tenant, ScheduleDate=value) == "-407"
    assert stored(engine) == 0


def test_a_past_schedule_date_sends_now(client: TestClient, tenant: Tenant, engine: Engine) -> None:
    (message_id,) = _ids(send(client, tenant, ScheduleDate="20200101000000"))
    assert message(engine, message_id).schedule_at is None


def test_validity_period(client: TestClient, tenant: Tenant, engine: Engine, clock: ManualClock) -> None:
    (message_id,) = _ids(send(client, tenant, ValidityPeriod="3600"))
    assert message(engine, message_id).expires_at.astimezone(UTC) == clock() + timedelta(seconds=3600)
    _ids(send(client, tenant, ValidityPeriod="86400"))
    for bad in ("0", "86401", "-5", "1h", "3600.5"):
        assert send(client, tenant, ValidityPeriod=bad) == "-405", bad
    assert stored(engine) == 2


@pytest.mark.parametrize(
    ("sender", "code"),
    [
        (None, "-518"),
        ("   ", "-518"),
        ("ABCDEFGHIJKL", "-402"),  # alphanumeric, 12 characters
        ("Shop&Co", "-518"),  # characters an alphanumeric ID cannot carry
        ("12", "-403"),
        ("447777777", "-403"),
    ],
)
def test_source_address_errors(
    client: TestClient, tenant: Tenant, engine: Engine, sender: str | None, code: str
) -> None:
    if sender is None:
        answer = text(client, tenant, "Send", DestinationAddress=TO, Body="Hello World")
    else:
        answer = send(client, tenant, SourceAddress=sender)
    assert answer == code
    assert stored(engine) == 0


def test_source_addresses_that_work(client: TestClient, tenant: Tenant, engine: Engine) -> None:
    for sender, stored_as in (
        ("ABCDEFGHIJK", "ABCDEFGHIJK"),
        ("My Shop", "My Shop"),
        ("447777777000", "+447777777000"),
    ):
        (message_id,) = _ids(send(client, tenant, SourceAddress=sender))
        assert message(engine, message_id).from_addr == stored_as


def test_another_accounts_number_is_not_a_source_address(
    client: TestClient, tenant: Tenant, engine: Engine, clock: ManualClock
) -> None:
    make_tenant(engine, name="other", number="+447777777999", region="GB", now=clock())
    assert send(client, tenant, SourceAddress="447777777999") == "-403"
    assert stored(engine) == 0


def test_body_errors(client: TestClient, tenant: Tenant, engine: Engine) -> None:
    assert text(client, tenant, "Send", DestinationAddress=TO, SourceAddress="API") == "-404"
    assert send(client, tenant, Body="") == "-519"
    assert send(client, tenant, Body="   ") == "-519"
    assert send(client, tenant, Body="x" * 460) == "-507"
    assert send(client, tenant, Body="x" * 460, ShowErrorMessage=1) == "-507\nInvalid/Missing Details"
    assert stored(engine) == 0
    (message_id,) = _ids(send(client, tenant, Body="x" * 459))  # the maximum: three parts
    assert message(engine, message_id).segments == 3


def test_source_ton(client: TestClient, tenant: Tenant, engine: Engine) -> None:
    (alpha,) = _ids(send(client, tenant, SourceTON="5"))
    (intl,) = _ids(send(client, tenant, SourceAddress="447777777000", SourceTON="1"))
    assert message(engine, alpha).meta == {"source_ton": 5}
    assert message(engine, intl).meta == {"source_ton": 1}
    assert send(client, tenant, SourceTON="3") == "-507"
    assert stored(engine) == 2


def test_not_enough_credits_refuses_the_whole_send(
    client: TestClient, engine: Engine, clock: ManualClock
) -> None:
    poor = make_tenant(engine, name="poor", credits=1, number="+447777777001", region="GB", now=clock())
    assert send(client, poor, DestinationAddress=f"{TO},{TO2}") == "-100"
    assert stored(engine) == 0 and credits(engine, poor) == 1


def test_too_many_numbers(client: TestClient, tenant: Tenant, engine: Engine) -> None:
    numbers = ",".join(f"4477777{n:05d}" for n in range(1001))
    response = call(
        client, tenant, "Send", method="POST", DestinationAddress=numbers, SourceAddress="API", Body="x"
    )
    assert response.text == "-507"
    assert stored(engine) == 0


def test_daily_limit_per_number(client: TestClient, tenant: Tenant, engine: Engine) -> None:
    _settings(engine, tenant, daily_limit_per_number=2)
    _ids(send(client, tenant))
    _ids(send(client, tenant))
    assert send(client, tenant, DestinationAddress=f"{TO},{TO2}").split(",")[0] == "-411"
    assert send(client, tenant, ShowErrorMessage=1) == "-411\n" + (
        "You have exceeded the limit of messages you can send in a single day to a single number"
    )
    assert credits(engine, tenant) == 97  # refused recipients are never charged


def test_a_blacklisted_number(client: TestClient, tenant: Tenant, engine: Engine, clock: ManualClock) -> None:
    with engine.begin() as conn:
        block_number(conn, tenant.account, TO, now=clock())
    answer = send(client, tenant, DestinationAddress=f"{TO},{TO2}")
    blocked, ok = answer.split(",")
    assert blocked == "-412"
    _ids(ok)
    assert send(client, tenant, ShowErrorMessage=1) == "-412\nNumber is blacklisted"


def test_an_opted_out_number_is_blacklisted(
    client: TestClient, tenant: Tenant, engine: Engine, clock: ManualClock
) -> None:
    with engine.begin() as conn:
        opt_out(conn, tenant.account.id, "+447777777772", word="STOP", now=clock())
    ok, stopped = send(client, tenant, DestinationAddress=f"{TO},{TO2}").split(",")
    _ids(ok)
    assert stopped == "-412"


def test_outside_the_allowed_prefixes_in_place(client: TestClient, tenant: Tenant, engine: Engine) -> None:
    _settings(engine, tenant, allowed_destination_prefixes=["+4477777777"])
    answer = send(client, tenant, DestinationAddress=f"{TO},15550001000,{TO2}")
    first, outside, third = answer.split(",")
    assert outside == "-406"
    _ids(f"{first},{third}")
    assert send(client, tenant, DestinationAddress="15550001000") == "-406"
    assert stored(engine) == 2
