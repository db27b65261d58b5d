"""``idempotencyKey``: a retry gets the first answer back and sends nothing; another body with the same
key is refused (409, code 409, field ``idempotencyKey``)."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from tests.helpers import ManualClock, Tenant, make_tenant
from tests.providers.textingline.media_server import MediaServer
from tests.providers.textingline.seed import RECIPIENT, SENDER
from tests.providers.textingline.util import API, assert_error, auth, credits, send, stored
from textgate.service.accounts import set_number_status


def test_same_key_same_body_is_answered_once(client: TestClient, tenant: Tenant, engine: Engine) -> None:
    first = send(client, tenant, idempotencyKey="order-1234")
    again = send(client, tenant, idempotencyKey="order-1234")
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert "Idempotent-Replayed" not in first.headers
    assert again.headers["Idempotent-Replayed"] == "true"
    assert stored(engine) == 1
    assert credits(engine, tenant) == 99


def test_the_same_body_in_other_json_spelling_is_the_same_request(client: TestClient, tenant: Tenant) -> None:
    first = send(client, tenant, idempotencyKey="k1", body="hi")
    raw = json.dumps(
        {"idempotencyKey": "k1", "body": "hi", "from": SENDER, "to": RECIPIENT}, indent=4
    ).encode()
    again = client.post(API, auth=auth(tenant), content=raw, headers={"Content-Type": "application/json"})
    assert again.status_code == 201
    assert again.json()["id"] == first.json()["id"]


def test_same_key_other_body_is_a_conflict(client: TestClient, tenant: Tenant, engine: Engine) -> None:
    assert send(client, tenant, idempotencyKey="order-1234", body="one").status_code == 201
    body = assert_error(
        send(client, tenant, idempotencyKey="order-1234", body="two"), 409, 409, "idempotencyKey"
    )
    assert "idempotencyKey" in body["message"]
    assert_error(
        send(client, tenant, idempotencyKey="order-1234", to="+15550001000"), 409, 409, "idempotencyKey"
    )
    assert stored(engine) == 1
    assert credits(engine, tenant) == 99


def test_other_keys_and_no_key_send_again(client: TestClient, tenant: Tenant, engine: Engine) -> None:
    ids = {
        send(client, tenant, idempotencyKey="a").json()["id"],
        send(client, tenant, idempotencyKey="b").json()["id"],
        send(client, tenant).json()["id"],
        send(client, tenant).json()["id"],
    }
    assert len(ids) == 4
    assert stored(engine) == 4


def test_keys_belong_to_one_account(
    client: TestClient, tenant: Tenant, engine: Engine, clock: ManualClock
) -> None:
    other = make_tenant(engine, name="other", number="+15551239999", now=clock())
    mine = send(client, tenant, idempotencyKey="shared")
    theirs = send(client, other, idempotencyKey="shared")
    assert mine.status_code == theirs.status_code == 201
    assert mine.json()["id"] != theirs.json()["id"]


def test_a_replay_does_not_depend_on_the_sender_staying_active(
    client: TestClient, tenant: Tenant, engine: Engine
) -> None:
    first = send(client, tenant, idempotencyKey="retry-me")
    with engine.begin() as conn:
        set_number_status(conn, tenant.account, SENDER, "inactive")
    assert send(client, tenant, idempotencyKey="retry-me").json() == first.json()
    assert_error(send(client, tenant, idempotencyKey="fresh"), 400, 33009, "from")


def test_failed_answers_replay_too(client: TestClient, tenant: Tenant, engine: Engine) -> None:
    from textgate.service.accounts import update_account

    with engine.begin() as conn:
        update_account(conn, tenant.account.id, settings={"blocked_prefixes": ["+1800"]})
    first = send(client, tenant, idempotencyKey="blocked")
    assert first.json()["status"] == "failed"
    assert send(client, tenant, idempotencyKey="blocked").json() == first.json()
    assert stored(engine) == 1


def test_mms_replay_fetches_nothing(
    client: TestClient, tenant: Tenant, engine: Engine, media: MediaServer
) -> None:
    url = media.url("/images/promo.jpg")
    first = send(client, tenant, mediaUrl=url, idempotencyKey="mms-1")
    again = send(client, tenant, mediaUrl=url, idempotencyKey="mms-1")
    assert first.status_code == again.status_code == 201, again.text
    assert again.json() == first.json()
    assert media.hits == ["/images/promo.jpg"]
    assert stored(engine) == 1
    other = send(client, tenant, mediaUrl=media.url("/files/menu.pdf"), idempotencyKey="mms-1")
    assert_error(other, 409, 409, "idempotencyKey")
    assert media.hits == ["/images/promo.jpg"]
