from __future__ import annotations

import base64
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from tests.helpers import ManualClock, Tenant, make_tenant
from textgate.store.schema import messages


def _send(client: TestClient, auth: dict[str, str], **body: object) -> object:
    payload = {"from": "+15551230001", "to": "+15550000001", "body": "hello"} | body
    return client.post("/v1/messages", json=payload, headers=auth)


def test_send_answers_202_with_one_message_per_recipient(client: TestClient, auth: dict[str, str]) -> None:
    r = client.post(
        "/v1/messages",
        json={
            "from": "+15551230001",
            "to": ["+15550000001", "+15550000011"],
            "body": "hi",
            "client_ref": "o-1",
        },
        headers=auth,
    )
    assert r.status_code == 202, r.text
    msgs = r.json()["messages"]
    assert len(msgs) == 2
    m = msgs[0]
    for key in (
        "id",
        "direction",
        "from",
        "to",
        "body",
        "status",
        "encoding",
        "segments",
        "credits",
        "error_code",
        "error_message",
        "client_ref",
        "created_at",
        "sent_at",
        "delivered_at",
    ):
        assert key in m
    assert (m["direction"], m["status"], m["encoding"], m["client_ref"]) == (
        "outbound",
        "queued",
        "gsm7",
        "o-1",
    )
    assert m["created_at"] == "2026-03-15T14:30:00.000Z" and m["sent_at"] is None
    account = client.get("/v1/account", headers=auth).json()
    assert account["credits"] == 98


def test_basic_auth_and_auth_failures(client: TestClient, tenant: Tenant) -> None:
    ok = client.get("/v1/account", auth=(tenant.key.key_id, tenant.key.secret))
    assert ok.status_code == 200 and ok.json()["id"] == tenant.account.id
    for headers in (
        {},
        {"Authorization": "Bearer nope"},
        {"Authorization": "Basic !!!"},
        {"Authorization": "Token abc"},
    ):
        r = client.get("/v1/account", headers=headers)
        assert r.status_code == 401
        assert r.json()["error"]["code"] == "authentication"
    assert client.get("/v1/account", auth=(tenant.key.key_id, "wrong")).status_code == 401


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"to": "not-a-number"}, 400, "to"),
        ({"to": ["+15550000001", "abc"]}, 400, "to[1]"),
        ({"to": [f"+1555000{i:04d}" for i in range(101)]}, 400, "to"),
        ({"body": ""}, 400, "body"),
        ({"from": "Way Too Long Sender"}, 400, "from"),
        ({"from": "+15557770000"}, 400, "from"),  # a number the account does not own
        ({"schedule_at": "tomorrow"}, 422, "schedule_at"),
        ({"validity_period": -5}, 400, "validity_period"),
        ({"media": [{"content_base64": "***", "content_type": "image/png"}]}, 400, "media[0].content_base64"),
        ({"unknown_field": 1}, 422, "unknown_field"),
        ({"to": 5}, 422, "to"),
    ],
)
def test_bad_input_is_a_clear_4xx_naming_the_field(
    client: TestClient, auth: dict[str, str], engine: Engine, body: dict[str, object], status: int, field: str
) -> None:
    r = _send(client, auth, **body)
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert err["field"] is not None and err["field"].startswith(field.split(".")[0].split("[")[0])
    assert err["message"]
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(messages)).scalar_one() == 0


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/promo.jpg",
        "promo.jpg",
        "https://user:pw@example.com/promo.jpg",  # credentials would be handed to every carrier
        "https://exa mple.com/promo.jpg",
        "https:///promo.jpg",
        "https://example.com:99999/promo.jpg",
    ],
)
def test_media_urls_are_checked_at_acceptance_as_textinglines_are(
    client: TestClient, auth: dict[str, str], engine: Engine, url: str
) -> None:
    r = _send(client, auth, media=[{"url": "https://example.com/ok.jpg"}, {"url": url}])
    assert r.status_code == 400, r.text
    assert r.json()["error"]["field"] == "media[1].url"
    assert r.json()["error"]["message"].startswith("media[1].url: ")
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(messages)).scalar_one() == 0


def test_an_upload_downloads_for_its_account_only(
    client: TestClient, auth: dict[str, str], engine: Engine, clock: ManualClock
) -> None:
    data = b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>"
    item = {
        "content_base64": base64.b64encode(data).decode(),
        "content_type": "image/svg+xml",
        "filename": "ü.svg",
    }
    r = _send(client, auth, media=[item])
    assert r.status_code == 202, r.text
    (media,) = r.json()["messages"][0]["media"]
    assert media["id"].startswith("med_") and media["size"] == len(data)
    got = client.get(f"/v1/media/{media['id']}", headers=auth)
    assert got.status_code == 200 and got.content == data
    assert got.headers["content-type"] == "image/svg+xml"
    # Never run as a page of the gateway: an attachment, not sniffed, sandboxed.
    assert got.headers["content-disposition"] == "attachment; filename=\"_.svg\"; filename*=UTF-8''%C3%BC.svg"
    assert got.headers["x-content-type-options"] == "nosniff"
    assert "sandbox" in got.headers["content-security-policy"]
    again = client.get(f"/v1/media/{media['id']}", headers={**auth, "If-None-Match": got.headers["etag"]})
    assert again.status_code == 304 and again.content == b""
    other = make_tenant(engine, name="other", credits=10, number="+15551238888", now=clock())
    foreign = client.get(f"/v1/media/{media['id']}", headers={"Authorization": f"Bearer {other.key.secret}"})
    assert foreign.status_code == 404
    assert client.get("/v1/media/med_nothing", headers=auth).status_code == 404
    assert client.get(f"/v1/media/{media['id']}").status_code == 401


def test_malformed_json_is_422(client: TestClient, auth: dict[str, str]) -> None:
    r = client.post(
        "/v1/messages", content=b"{not json", headers={**auth, "content-type": "application/json"}
    )
    assert r.status_code == 422
    assert r.json()["error"]["code"] == "validation"


def test_insufficient_credits_is_402(client: TestClient, engine: Engine, clock: ManualClock) -> None:
    poor = make_tenant(engine, name="poor", credits=0, number="+15551239999", now=clock())
    r = client.post(
        "/v1/messages",
        json={"from": poor.number, "to": "+15550000001", "body": "hi"},
        headers={"Authorization": f"Bearer {poor.key.secret}"},
    )
    assert r.status_code == 402
    assert r.json()["error"]["code"] == "insufficient_credits"


def test_request_over_size_limit_is_413(client: TestClient, auth: dict[str, str]) -> None:
    big = base64.b64encode(b"x" * (1024 * 1024)).decode()
    r = _send(client, auth, media=[{"content_base64": big, "content_type": "image/png"}])
    assert r.status_code == 413
    assert r.json()["error"]["code"] == "too_large"


def test_idempotency_key_replays_and_conflicts(
    client: TestClient, auth: dict[str, str], engine: Engine
) -> None:
    headers = {**auth, "Idempotency-Key": "order-42"}
    body = {"from": "+15551230001", "to": "+15550000001", "body": "once"}
    first = client.post("/v1/messages", json=body, headers=headers)
    second = client.post("/v1/messages", json=body, headers=headers)
    assert first.status_code == second.status_code == 202
    assert second.json() == first.json()
    assert second.headers.get("Idempotent-Replayed") == "true"
    third = client.post("/v1/messages", json={**body, "body": "twice"}, headers=headers)
    assert third.status_code == 409
    assert third.json()["error"] == {
        "code": "conflict",
        "message": "this idempotency key was already used with a different request",
        "field": "Idempotency-Key",
    }
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(messages)).scalar_one() == 1


def test_get_list_and_events(client: TestClient, auth: dict[str, str], clock: ManualClock) -> None:
    ids = []
    for i in range(5):
        clock.advance(1)
        ids.append(_send(client, auth, to=f"+155500010{i:02d}").json()["messages"][0]["id"])
    one = client.get(f"/v1/messages/{ids[0]}", headers=auth)
    assert one.status_code == 200 and one.json()["to"] == "+15550001000"
    page1 = client.get("/v1/messages", params={"limit": 2}, headers=auth).json()
    assert [m["id"] for m in page1["data"]] == ids[::-1][:2]
    page2 = client.get(
        "/v1/messages", params={"limit": 2, "cursor": page1["next_cursor"]}, headers=auth
    ).json()
    page3 = client.get(
        "/v1/messages", params={"limit": 2, "cursor": page2["next_cursor"]}, headers=auth
    ).json()
    assert [m["id"] for m in page2["data"] + page3["data"]] == ids[::-1][2:]
    assert page3["next_cursor"] is None
    filtered = client.get("/v1/messages", params={"to": "+15550001003"}, headers=auth).json()["data"]
    assert [m["id"] for m in filtered] == [ids[3]]
    assert client.get("/v1/messages", params={"status": "delivered"}, headers=auth).json()["data"] == []
    assert client.get("/v1/messages", params={"status": "bogus"}, headers=auth).status_code == 422
    assert client.get("/v1/messages", params={"cursor": "garbage"}, headers=auth).status_code == 400
    after = client.get(
        "/v1/messages", params={"created_after": "2026-03-15T14:30:03.500Z"}, headers=auth
    ).json()["data"]
    assert [m["id"] for m in after] == ids[::-1][:2]
    events = client.get(f"/v1/messages/{ids[0]}/events", headers=auth).json()["data"]
    assert [e["status"] for e in events] == ["queued"]


def test_tenants_see_only_their_own_messages(
    client: TestClient, auth: dict[str, str], engine: Engine, clock: ManualClock
) -> None:
    mid = _send(client, auth).json()["messages"][0]["id"]
    other = make_tenant(engine, name="other", number="+15551238888", now=clock())
    headers = {"Authorization": f"Bearer {other.key.secret}"}
    assert client.get(f"/v1/messages/{mid}", headers=headers).status_code == 404
    assert client.get(f"/v1/messages/{mid}/events", headers=headers).status_code == 404
    assert client.get("/v1/messages", headers=headers).json()["data"] == []


def test_operations_endpoints(client: TestClient) -> None:
    health = client.get("/healthz")
    assert health.status_code == 200 and health.json()["database"] == "ok"
    assert "textgate_messages_accepted_total" in client.get("/metrics").text
    spec = client.get("/openapi.json").json()
    assert "/v1/messages" in spec["paths"] and "/v1/webhooks" in spec["paths"]
    assert client.get("/docs").status_code == 200


def test_list_filters_need_time_zones_and_accept_any_number_form(
    client: TestClient, auth: dict[str, str]
) -> None:
    mid = _send(client, auth, to="+15550000008").json()["messages"][0]["id"]
    r = client.get("/v1/messages", params={"created_after": "2026-03-15T14:00:00"}, headers=auth)
    assert r.status_code == 400 and r.json()["error"]["field"] == "created_after"
    for form in ("15550000008", "(555) 000-0008", "+15550000008"):
        data = client.get("/v1/messages", params={"to": form}, headers=auth).json()["data"]
        assert [m["id"] for m in data] == [mid]
    assert client.get("/v1/messages", params={"to": "nonsense!"}, headers=auth).status_code == 400


def test_unexpected_errors_answer_in_the_error_format(client: TestClient, auth: dict[str, str]) -> None:
    app = client.app

    @app.get("/boom")  # type: ignore[attr-defined, untyped-decorator]
    async def boom() -> None:
        raise RuntimeError("kaput")

    quiet = TestClient(app, raise_server_exceptions=False)
    r = quiet.get("/boom")
    assert r.status_code == 500
    assert r.json()["error"]["code"] == "platform_error"
    assert "kaput" not in r.text


def test_streamed_body_over_limit_is_413_too(client: TestClient, auth: dict[str, str]) -> None:
    def chunks() -> Iterator[bytes]:  # no Content-Length: the body arrives chunked
        for _ in range(20):
            yield b"x" * 65536

    r = client.post("/v1/messages", content=chunks(), headers={**auth, "content-type": "application/json"})
    assert r.status_code == 413
    assert r.json()["error"]["code"] == "too_large"


def test_openapi_document_is_clean_and_lists_every_dialect() -> None:
    import warnings

    from textgate.config import Settings
    from textgate.web.app import create_app

    app = create_app(Settings(database_url="sqlite://"), workers=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # e.g. duplicate operation ids between dialects
        spec = app.openapi()
    paths = set(spec["paths"])
    assert {"/api/v1/connect-hub/sms", "/api/v1/messaging/message", "/api/SendOutgoingMessages"} <= paths
    assert "/SendTexts.aspx" in paths
