"""TextBetter v2 input handling: media, idempotency, and hostile input that must get TextBetter's 400
(never a 500) on both databases."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from tests.helpers import Tenant
from tests.providers.textbetter.support import (
    PNG,
    PNG_B64,
    assert_error,
    payload,
    post,
    stored,
)
from textgate.store.schema import messages


# -- media ---------------------------------------------------------------------------------------------
def mms(tenant: Tenant, **fields: Any) -> dict[str, Any]:
    return payload(tenant, filenames=["a.png"], contentTypes=["image/png"], images=[PNG_B64]) | fields


def test_media_validation(client: TestClient, tenant: Tenant, engine: Engine) -> None:
    assert_error(
        post(client, tenant, mms(tenant, filenames=["a.png", "b.png"])),
        "filenames, contentTypes and images must be arrays of equal length "
        "(images 1, contentTypes 1, filenames 2)",
    )
    assert_error(
        post(client, tenant, mms(tenant, images=["@@@ not base64 @@@"])),
        "images[0] is not valid base64 (standard alphabet A-Z a-z 0-9 + / with = padding)",
    )
    assert_error(
        post(client, tenant, mms(tenant, images=[PNG_B64.rstrip("=")])),
        "images[0] is not valid base64 (standard alphabet A-Z a-z 0-9 + / with = padding)",
    )
    assert_error(post(client, tenant, mms(tenant, images=[""])), "images[0] is empty")
    assert_error(post(client, tenant, mms(tenant, images=[3])), "images[0] must be a base64 string")
    assert_error(
        post(client, tenant, mms(tenant, contentTypes=["jpeg"])),
        "contentTypes[0]: 'jpeg' is not a MIME type such as image/jpeg",
    )
    assert_error(
        post(client, tenant, mms(tenant, contentTypes=None, filenames=None)),
        "contentTypes[0] is required: the attachment's MIME type, such as image/jpeg",
    )
    assert_error(
        post(client, tenant, mms(tenant, filenames=["x" * 300])), "filenames[0] is longer than 255 characters"
    )
    assert_error(
        post(client, tenant, payload(tenant, contentTypes=["image/png"])),
        "filenames/contentTypes were given without images (the base64 media content)",
    )
    assert_error(
        post(
            client,
            tenant,
            mms(tenant, images=[PNG_B64] * 11, contentTypes=["image/png"] * 11, filenames=None),
        ),
        "images has 11 attachments; at most 10 per message",
    )
    big = base64.b64encode(b"\0" * (5 * 1024 * 1024 + 1)).decode()
    assert_error(
        post(client, tenant, mms(tenant, images=[big])), "images are larger than 5242880 bytes (5 MB) in all"
    )
    assert stored(engine) == []


def test_media_leniency(client: TestClient, tenant: Tenant, engine: Engine) -> None:
    wrapped = "\r\n".join(PNG_B64[i : i + 76] for i in range(0, len(PNG_B64), 76)) + "\n"
    data_uri = "data:image/png;base64," + PNG_B64
    body = payload(tenant, body="", images=[wrapped, data_uri], filenames=["photo.jpg", None])
    response = post(client, tenant, body)  # no contentTypes: from the file name, then from the data URI
    assert response.status_code == 201, response.text
    (row,) = stored(engine)
    assert [(m["content_type"], m["filename"], m["size"]) for m in row.media] == [
        ("image/jpeg", "photo.jpg", len(PNG)),
        ("image/png", None, len(PNG)),
    ]
    assert row.type == "mms" and row.body == ""


# -- idempotency (a textgate addition) -----------------------------------------------------------------
def test_idempotency_key(client: TestClient, tenant: Tenant, engine: Engine) -> None:
    headers = {"Idempotency-Key": "order-1"}
    first = post(client, tenant, payload(tenant), headers=headers)
    again = post(client, tenant, payload(tenant), headers=headers)
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    assert len(stored(engine)) == 1
    assert_error(
        post(client, tenant, payload(tenant, body="other"), headers=headers),
        "this idempotency key was already used with a different request",
    )
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(messages)).scalar_one() == 1


# -- hostile input: always TextBetter's 400, never a 500 -----------------------------------------------
@pytest.mark.parametrize(
    "fields",
    [
        {"fromNumber": ["15551230001"]},
        {"fromNumber": "١٥٥٥١٢٣٠٠٠١"},  # Arabic-Indic digits are not ASCII digits
        {"toNumber": [["15550001000"]]},
        {"toNumber": [None]},
        {"body": {"text": "hi"}},
        {"images": {"a": 1}},
        {"images": [PNG_B64], "contentTypes": [7]},
        {"images": [PNG_B64], "contentTypes": ["image/png"], "filenames": [7]},
        {"images": [PNG_B64], "contentTypes": ["image/png"], "filenames": ["a\x00.png"]},
        {"images": [PNG_B64], "contentTypes": ["image/" + "x" * 200]},
        {"APIKey": 12345},
        {"APIKey": None},
    ],
)
def test_odd_values_get_a_clean_400(
    client: TestClient, tenant: Tenant, engine: Engine, fields: dict[str, Any]
) -> None:
    assert_error(post(client, tenant, payload(tenant, **fields)))
    assert stored(engine) == []


def test_odd_requests_get_a_clean_400(client: TestClient, tenant: Tenant, engine: Engine) -> None:
    url = f"/api/SendOutgoingMessages?code={tenant.key.key_id}"
    json_header = {"content-type": "application/json"}
    assert_error(
        client.post("/api/SendOutgoingMessages?code=key%00x", json=payload(tenant)),
        "Invalid Company/KEY/DID combination",
    )
    assert_error(
        client.post(url, content=b"\xff\xfe", headers=json_header), "the request body is not valid JSON"
    )
    assert_error(
        client.post(url, content=b"[" * 5000 + b"]" * 5000, headers=json_header),
        "the request body is not valid JSON",
    )
    assert_error(client.post(url, content=b"", headers=json_header), "the request body is not valid JSON")
    assert_error(
        client.post(url, content=b"null", headers=json_header), "the request body must be a JSON object"
    )
    assert stored(engine) == []
