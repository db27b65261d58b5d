"""Inbound message HTTP forwarding in Text-Connect's shape (webhook format ``textconnect``), checked where
the outbox stores each delivery: its method, URL (GET) or form body (POST)."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from tests.helpers import ManualClock, Tenant
from tests.providers.textconnect.util import SENDER, send
from textgate.domain.errors import ValidationError
from textgate.domain.message import MessageStatus
from textgate.service.accounts import update_account
from textgate.service.inbound import receive_inbound
from textgate.service.lists import ListEntryInput, add_list_entries, create_list
from textgate.service.messages import get_message_row
from textgate.service.status import change_status
from textgate.store.schema import webhook_deliveries
from textgate.webhooks.endpoints import create_endpoint
from textgate.webhooks.formats import format_names

HOOK = "http://127.0.0.1:9/sms/incoming.php"
HANDSET = "+447777777771"


def _endpoint(engine: Engine, tenant: Tenant, clock: ManualClock, url: str = HOOK, **options: str) -> None:
    with engine.begin() as conn:
        create_endpoint(
            conn,
            tenant.account.id,
            url,
            ["message.received"],
            now=clock(),
            allow_private=True,
            format="textconnect",
            number=SENDER,
            options=options or None,
        )


def _inbound(engine: Engine, clock: ManualClock, body: str = "Hello & welcome", sender: str = HANDSET) -> str:
    with engine.begin() as conn:
        view = receive_inbound(conn, from_addr=sender, to_addr=SENDER, body=body, now=clock(), source="test")
    return str(view["id"])


def _deliveries(engine: Engine) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(select(webhook_deliveries).order_by(webhook_deliveries.c.seq)).all())


def test_format_is_registered() -> None:
    assert "textconnect" in format_names()


def test_get_is_the_default(engine: Engine, tenant: Tenant, clock: ManualClock) -> None:
    _endpoint(engine, tenant, clock, auth="s3cret")
    message_id = _inbound(engine, clock)
    (delivery,) = _deliveries(engine)
    assert (delivery.method, delivery.payload) == ("GET", "")
    url = urlsplit(delivery.target_url)
    assert f"{url.scheme}://{url.netloc}{url.path}" == HOOK
    assert dict(parse_qsl(url.query, keep_blank_values=True)) == {
        "source": "447777777771",
        "dest": "447777777000",
        "msg": "Hello & welcome",
        "id": message_id,
        "receivedts": "2026-03-15 14:30:00",
        "auth": "s3cret",
    }


def test_post_as_a_form_with_mail_merge_data(engine: Engine, tenant: Tenant, clock: ManualClock) -> None:
    with engine.begin() as conn:
        found = create_list(conn, tenant.account, "Customers", ["Town", "Plan"], now=clock())
        entry = ListEntryInput(
            number=HANDSET, name="Ann Lee", email="ann@example.com", fields=["Leeds", "Gold"]
        )
        add_list_entries(conn, tenant.account, found.id, [entry], now=clock())
        update_account(conn, tenant.account.id, settings={"timezone": "Asia/Tokyo"})
    _endpoint(engine, tenant, clock, method="post", auth="s3cret", mailmerge_list="Customers")
    message_id = _inbound(engine, clock)
    stranger_id = _inbound(engine, clock, body="who?", sender="+447777777779")
    known, stranger = _deliveries(engine)
    assert (known.method, known.content_type) == ("POST", "application/x-www-form-urlencoded")
    assert known.target_url is None  # the endpoint's own URL
    assert dict(parse_qsl(known.payload, keep_blank_values=True)) == {
        "source": "447777777771",
        "dest": "447777777000",
        "msg": "Hello & welcome",
        "id": message_id,
        "receivedts": "2026-03-15 23:30:00",  # in the account's time zone
        "auth": "s3cret",
        "MMName": "Ann Lee",
        "MMEmail": "ann@example.com",
        "MM1": "Leeds",
        "MM2": "Gold",
        "MM3": "",
        "MM4": "",
        "MM5": "",
    }
    # A sender who is not in the list gets the plain parameters only.
    fields = dict(parse_qsl(stranger.payload, keep_blank_values=True))
    assert (fields["id"], fields["msg"]) == (stranger_id, "who?")
    assert not any(key.startswith("MM") for key in fields)


def test_an_unknown_mail_merge_list_and_no_auth(engine: Engine, tenant: Tenant, clock: ManualClock) -> None:
    _endpoint(engine, tenant, clock, url=HOOK + "?site=1", mailmerge_list="Nothing")
    _inbound(engine, clock, body="hi")
    (delivery,) = _deliveries(engine)
    query = dict(parse_qsl(urlsplit(delivery.target_url).query, keep_blank_values=True))
    assert query["site"] == "1" and query["auth"] == "" and query["msg"] == "hi"
    assert not any(key.startswith("MM") for key in query)


def test_status_changes_are_not_forwarded(
    client: TestClient, engine: Engine, tenant: Tenant, clock: ManualClock
) -> None:
    with engine.begin() as conn, pytest.raises(ValidationError, match="would never be sent"):
        create_endpoint(
            conn,
            tenant.account.id,
            HOOK,
            ["message.status"],
            now=clock(),
            allow_private=True,
            format="textconnect",
        )
    _endpoint(engine, tenant, clock)
    message_id = send(client, tenant, SourceAddress="447777777000")
    with engine.begin() as conn:
        row = get_message_row(conn, tenant.account.id, message_id)
        change_status(conn, row, MessageStatus.SENDING, now=clock(), source="test")
    assert _deliveries(engine) == []
