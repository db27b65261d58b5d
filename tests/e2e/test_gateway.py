"""textgate as users run it: ``textgate serve`` in its own process, driven by the CLI and the API, with
signed webhooks received by a real HTTP server."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from standardwebhooks import Webhook

from tests.e2e.harness import Receiver, Server, cli, cli_result, wait_for

pytestmark = pytest.mark.e2e


def test_send_receive_and_signed_webhooks(db_url: str, tmp_path: Path) -> None:
    server = Server(db_url, tmp_path, sim_report_latency="0.2")
    created = json.loads(cli(server.env, "accounts", "create", "acme", "--credits", "100", "--json"))
    assert set(created) == {"account_id", "key_id", "secret"}
    cli(server.env, "numbers", "add", "acme", "+15551230001")
    server.start()
    try:
        with Receiver() as receiver, server.client(created["secret"]) as api:
            hook = api.post(
                "/v1/webhooks", json={"url": receiver.url, "events": ["message.status", "message.received"]}
            )
            assert hook.status_code == 201, hook.text
            secret = hook.json()["secret"]
            assert secret.startswith("whsec_")

            sent = api.post(
                "/v1/messages",
                json={"from": "+15551230001", "to": ["+15550000001", "+15550000002"], "body": "hello"},
            )
            assert sent.status_code == 202, sent.text
            ok_id, bad_id = (m["id"] for m in sent.json()["messages"])

            wait_for(lambda: api.get(f"/v1/messages/{ok_id}").json()["status"] == "delivered")
            assert api.get(f"/v1/messages/{bad_id}").json()["status"] == "rejected"

            out = cli(
                server.env,
                "simulate",
                "inbound",
                "--from",
                "+61421000001",
                "--to",
                "+15551230001",
                "hello back",
            )
            assert "received msg_" in out

            def statuses() -> list[tuple[str, str]]:
                return [(e["type"], e["data"]["status"]) for e in receiver.events()]

            wait_for(lambda: len(statuses()) >= 4)
            seen = statuses()
            assert ("message.status", "delivered") in seen
            assert ("message.status", "rejected") in seen
            assert ("message.received", "received") in seen
            ok_events = [e["data"]["status"] for e in receiver.events() if e["data"]["id"] == ok_id]
            assert ok_events == ["sent", "delivered"]  # per-message order preserved

            verifier = Webhook(secret)
            for headers, body in receiver.requests:
                assert {"webhook-id", "webhook-timestamp", "webhook-signature"} <= set(headers)
                verifier.verify(body, headers)  # raises if the signature is wrong

            inbound = next(e["data"] for e in receiver.events() if e["type"] == "message.received")
            assert (inbound["from"], inbound["to"], inbound["body"]) == (
                "+61421000001",
                "+15551230001",
                "hello back",
            )
            assert api.get("/v1/account").json()["credits"] == 99  # the rejected message was refunded
    finally:
        server.stop()


def test_cli_send_and_messages(db_url: str, tmp_path: Path) -> None:
    server = Server(db_url, tmp_path)
    created = json.loads(cli(server.env, "accounts", "create", "cli", "--credits", "5", "--json"))
    cli(server.env, "numbers", "add", "cli", "+15551230001")
    server.start()
    try:
        env = {**server.env, "TEXTGATE_URL": server.url, "TEXTGATE_API_KEY": created["secret"]}
        answer = json.loads(
            cli(env, "send", "--from", "+15551230001", "--to", "+15550000001", "hi", "--json")
        )
        mid = answer["messages"][0]["id"]
        with server.client(created["secret"]) as api:
            wait_for(lambda: api.get(f"/v1/messages/{mid}").json()["status"] == "delivered")
        shown = json.loads(cli(env, "messages", "show", mid, "--json"))
        assert [e["status"] for e in shown["events"]] == ["queued", "sending", "sent", "delivered"]
        listed = json.loads(cli(env, "messages", "list", "--json"))
        assert [m["id"] for m in listed["data"]] == [mid]
        table = cli(env, "messages", "list")
        assert "delivered" in table

        with server.client(created["secret"]) as api:
            soon = (datetime.now(UTC) + timedelta(hours=2)).isoformat()
            later = api.post(
                "/v1/messages",
                json={"from": "+15551230001", "to": "+15550000001", "body": "later", "schedule_at": soon},
            )
        later_id = later.json()["messages"][0]["id"]
        assert "canceled, 1 credit(s) refunded" in cli(env, "messages", "cancel", later_id)
        refused = cli_result(env, "messages", "cancel", later_id)
        assert refused.returncode == 1 and "conflict" in refused.stderr and "canceled" in refused.stderr
        history = json.loads(cli(server.env, "credits", "history", "cli", "--json"))
        assert [(e["kind"], e["amount"], e["message_id"]) for e in history["data"]] == [
            ("refund", 1, later_id),
            ("debit", -1, later_id),
            ("debit", -1, mid),
            ("credit", 5, None),
        ]
        assert "refund" in cli(server.env, "credits", "history", "cli", "--kind", "refund")
    finally:
        server.stop()
