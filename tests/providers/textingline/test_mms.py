"""MMS: the seed's example with its media fetched from a real local HTTP server, the fetch's limits, and
the private-address guard."""

from __future__ import annotations

import asyncio
import base64

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from tests.helpers import Tenant
from tests.providers.textingline.media_server import PDF, PROMO_JPG, MediaServer
from tests.providers.textingline.seed import MMS_CURL, RECIPIENT, SENDER
from tests.providers.textingline.util import (
    API,
    MESSAGE_ID,
    assert_error,
    auth,
    credits,
    run_seed,
    send,
    stored,
)
from textgate.domain.errors import ValidationError
from textgate.providers.textingline import media as media_mod
from textgate.providers.textingline.media import allowed_content_type, fetch_media, filename_for
from textgate.store.schema import media_objects, messages


def _stored_media(engine: Engine) -> list[tuple[str, str | None, bytes]]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(media_objects.c.content_type, media_objects.c.filename, media_objects.c.data)
        )
        return [(r.content_type, r.filename, bytes(r.data)) for r in rows]


def test_seed_mms_example(client: TestClient, tenant: Tenant, engine: Engine, media: MediaServer) -> None:
    url = media.url("/images/promo.jpg")
    response = run_seed(client, tenant, MMS_CURL, media_url=url)
    assert response.status_code == 201, response.text
    body = response.json()
    assert MESSAGE_ID.fullmatch(body["id"])
    assert body == {
        "id": body["id"],
        "direction": "outbound",
        "to": RECIPIENT,
        "from": SENDER,
        "body": "Check out our new collection!",
        "mediaUrl": url,
        "status": "queued",
        "createdAt": "2026-03-15T14:30:00.000Z",
    }
    assert media.hits == ["/images/promo.jpg"]
    assert _stored_media(engine) == [("image/jpeg", "promo.jpg", PROMO_JPG)]
    with engine.connect() as conn:
        row = conn.execute(select(messages.c.type, messages.c.credits)).one()
    assert (row.type, row.credits) == ("mms", 3)
    assert credits(engine, tenant) == 97
    got = client.get(f"{API}/{body['id']}", auth=auth(tenant)).json()
    assert got == body


def test_mms_without_body(client: TestClient, tenant: Tenant, media: MediaServer) -> None:
    response = client.post(
        API,
        auth=auth(tenant),
        json={"to": RECIPIENT, "from": SENDER, "mediaUrl": media.url("/files/menu.pdf")},
    )
    assert response.status_code == 201, response.text
    assert response.json()["body"] == ""


def test_redirects_are_followed_and_checked(
    client: TestClient, tenant: Tenant, engine: Engine, media: MediaServer
) -> None:
    response = send(client, tenant, mediaUrl=media.url("/redirect"))
    assert response.status_code == 201, response.text
    assert response.json()["mediaUrl"] == media.url("/redirect")
    assert media.hits == ["/redirect", "/images/promo.jpg"]
    assert _stored_media(engine) == [("image/jpeg", "promo.jpg", PROMO_JPG)]


@pytest.mark.parametrize(
    ("path", "words"),
    [
        ("/page.html", "text/html"),
        ("/no-type", "content type"),
        ("/empty.jpg", "empty"),
        ("/missing.jpg", "HTTP 404"),
        ("/big.jpg", "limit"),
        ("/big-unannounced.jpg", "limit"),
        ("/loop", "redirected more than"),
    ],
)
def test_unusable_media_is_400_naming_media_url(
    client: TestClient, tenant: Tenant, engine: Engine, media: MediaServer, path: str, words: str
) -> None:
    body = assert_error(send(client, tenant, mediaUrl=media.url(path)), 400, 400, "mediaUrl")
    assert words in body["message"]
    assert stored(engine) == 0
    assert credits(engine, tenant) == 100


def test_unreachable_media(client: TestClient, tenant: Tenant, engine: Engine) -> None:
    with MediaServer() as gone:
        url = gone.url("/images/promo.jpg")
    body = assert_error(send(client, tenant, mediaUrl=url), 400, 400, "mediaUrl")
    assert "could not be fetched" in body["message"]
    assert stored(engine) == 0


def test_slow_media_times_out(
    client: TestClient, tenant: Tenant, media: MediaServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(media_mod, "TOTAL_SECONDS", 0.3)
    body = assert_error(send(client, tenant, mediaUrl=media.url("/slow.jpg")), 400, 400, "mediaUrl")
    assert "within 0.3 seconds" in body["message"]


def test_private_media_url_is_refused_unless_allowed(
    guarded_client: TestClient, tenant: Tenant, engine: Engine, media: MediaServer
) -> None:
    for url in (
        media.url("/images/promo.jpg"),
        "http://localhost:9/promo.jpg",
        "http://169.254.169.254/latest",
    ):
        body = assert_error(send(guarded_client, tenant, mediaUrl=url), 400, 400, "mediaUrl")
        assert "is refused" in body["message"]
    assert media.hits == []  # nothing was fetched
    assert stored(engine) == 0


def test_nothing_is_fetched_for_a_caller_who_may_not_send(
    client: TestClient, tenant: Tenant, engine: Engine, media: MediaServer
) -> None:
    payload = {"to": RECIPIENT, "from": SENDER, "body": "x", "mediaUrl": media.url("/images/promo.jpg")}
    assert_error(client.post(API, json=payload, auth=(tenant.key.key_id, "tgs_wrong")), 401, 401, None)
    assert_error(
        send(client, tenant, mediaUrl=payload["mediaUrl"], **{"from": "+15551230002"}), 400, 33004, "from"
    )
    assert_error(send(client, tenant, mediaUrl=payload["mediaUrl"], body="\x00"), 400, 33016, "body")
    assert media.hits == []


def test_a_redirect_to_a_private_address_is_refused() -> None:
    """A public URL (a literal public address, so no DNS is needed) that redirects inward."""
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return httpx.Response(302, headers={"Location": "http://127.0.0.1:8080/admin"})

    with pytest.raises(ValidationError) as info:
        asyncio.run(
            fetch_media(
                "http://93.184.216.34/promo.jpg", allow_private=False, transport=httpx.MockTransport(handler)
            )
        )
    assert info.value.field == "mediaUrl"
    assert "redirected to http://127.0.0.1:8080/admin" in info.value.message
    assert seen == ["http://93.184.216.34/promo.jpg"]


def test_fetched_media_becomes_base64_media_input() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=PDF, headers={"Content-Type": "application/pdf"})

    fetched = asyncio.run(
        fetch_media("http://93.184.216.34/m", allow_private=False, transport=httpx.MockTransport(handler))
    )
    item = fetched.as_input()
    assert item.url is None
    assert base64.b64decode(item.content_base64 or "") == PDF
    assert (item.content_type, item.filename) == ("application/pdf", "m.pdf")


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("image/jpeg", "image/jpeg"),
        ("IMAGE/PNG; charset=binary", "image/png"),
        ("video/mp4", "video/mp4"),
        ("audio/mpeg", "audio/mpeg"),
        ("application/pdf", "application/pdf"),
        ("text/vcard", "text/vcard"),
    ],
)
def test_allowed_content_types(header: str, expected: str) -> None:
    assert allowed_content_type(header) == expected


@pytest.mark.parametrize(
    "header", [None, "", "text/html", "application/octet-stream", "application/zip", "image"]
)
def test_refused_content_types(header: str | None) -> None:
    with pytest.raises(ValidationError):
        allowed_content_type(header)


@pytest.mark.parametrize(
    ("url", "ctype", "name"),
    [
        ("https://example.com/images/promo.jpg", "image/jpeg", "promo.jpg"),
        ("https://example.com/images/promo.jpg?size=large", "image/jpeg", "promo.jpg"),
        ("https://example.com/", "image/png", "media.png"),
        ("https://example.com/a/b%2F..%2Fd.gif", "image/gif", "d.gif"),
        ("https://example.com/my%20photo%21.jpg", "image/jpeg", "my_photo_.jpg"),
        ("https://example.com/download", "application/pdf", "download.pdf"),
    ],
)
def test_filenames(url: str, ctype: str, name: str) -> None:
    assert filename_for(url, ctype) == name
