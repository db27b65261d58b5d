"""Our webhook headers verify with the reference Standard Webhooks library, and tampering is caught."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta, timezone

import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from textgate.webhooks.signing import new_secret, sign_headers

PAYLOAD = '{"type":"message.status","data":{"id":"msg_1","status":"delivered"}}'


def test_new_secret_format() -> None:
    secret = new_secret()
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret.removeprefix("whsec_"))) == 24
    assert new_secret() != secret
    Webhook(secret)  # the library accepts it


def test_signature_verifies_with_standardwebhooks() -> None:
    secret = new_secret()
    now = datetime.now(UTC)
    headers = sign_headers(secret, "evt_abc", now, PAYLOAD)
    assert set(headers) == {"webhook-id", "webhook-timestamp", "webhook-signature"}
    assert headers["webhook-id"] == "evt_abc"
    assert headers["webhook-timestamp"] == str(int(now.timestamp()))
    assert headers["webhook-signature"].startswith("v1,")
    assert Webhook(secret).verify(PAYLOAD, headers) == {
        "type": "message.status",
        "data": {"id": "msg_1", "status": "delivered"},
    }
    # Also as bytes, as a receiver reads the body.
    Webhook(secret).verify(PAYLOAD.encode(), headers)


def test_non_utc_timestamp_signs_the_same_instant() -> None:
    secret = new_secret()
    now = datetime.now(UTC)
    elsewhere = now.astimezone(timezone(timedelta(hours=5, minutes=30)))
    assert sign_headers(secret, "evt_1", now, PAYLOAD) == sign_headers(secret, "evt_1", elsewhere, PAYLOAD)
    Webhook(secret).verify(PAYLOAD, sign_headers(secret, "evt_1", elsewhere, PAYLOAD))


def test_naive_timestamp_is_refused() -> None:
    with pytest.raises(ValueError):
        sign_headers(new_secret(), "evt_1", datetime.now(), PAYLOAD)


@pytest.mark.parametrize(
    "tamper",
    [
        lambda p, h: (p.replace("delivered", "failed"), h),
        lambda p, h: (p, {**h, "webhook-id": "evt_other"}),
        lambda p, h: (p, {**h, "webhook-timestamp": str(int(h["webhook-timestamp"]) + 1)}),
    ],
    ids=["payload", "id", "timestamp"],
)
def test_tampering_fails(tamper: object) -> None:
    secret = new_secret()
    headers = sign_headers(secret, "evt_abc", datetime.now(UTC), PAYLOAD)
    payload, headers = tamper(PAYLOAD, headers)  # type: ignore[operator]
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(payload, headers)


def test_wrong_secret_fails() -> None:
    headers = sign_headers(new_secret(), "evt_abc", datetime.now(UTC), PAYLOAD)
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret()).verify(PAYLOAD, headers)
