"""Routing end to end: a real ``textgate serve`` configured by the minimal TOML file sends through the real
SMSC peer (tests/smsc, npm ``smpp``), which pushes the receipt back; ``routes list`` asks the running
gateway; with no configuration ``serve`` still runs on the simulator; a configuration mistake stops it."""

from __future__ import annotations

import asyncio
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.harness import TEXTGATE, Receiver, Server, cli, wait_for
from tests.providers.smpp.peer import PASSWORD, SYSTEM_ID, Smsc, SmscUnavailable, ensure_installed

pytestmark = pytest.mark.e2e

MINIMAL = """
[[connectors]]
name = "smsc1"
type = "smpp"
host = "127.0.0.1"
port = {port}
system_id = "{system_id}"
password = "{password}"

[[routes]]
name = "default"
connectors = ["smsc1"]
"""


@pytest.fixture(scope="module")
def smsc() -> Iterator[Smsc]:
    try:
        ensure_installed()
        peer = Smsc()
        peer.start()
    except SmscUnavailable as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        yield peer
    finally:
        peer.kill()


def test_a_native_send_goes_through_the_configured_smsc_and_is_delivered(
    db_url: str, tmp_path: Path, smsc: Smsc
) -> None:
    asyncio.run(smsc.reset())
    config = tmp_path / "textgate.toml"
    config.write_text(MINIMAL.format(port=smsc.smpp_port, system_id=SYSTEM_ID, password=PASSWORD))
    server = Server(db_url, tmp_path, config=str(config))
    created = json.loads(cli(server.env, "accounts", "create", "acme", "--credits", "10", "--json"))
    cli(server.env, "numbers", "add", "acme", "+15551230001")
    server.start()  # healthy only once the SMPP session is bound
    try:
        with Receiver() as receiver, server.client(created["secret"]) as api:
            hook = api.post("/v1/webhooks", json={"url": receiver.url, "events": ["message.status"]})
            assert hook.status_code == 201, hook.text
            sent = api.post(
                "/v1/messages", json={"from": "+15551230001", "to": "+447400123456", "body": "hi"}
            )
            assert sent.status_code == 202, sent.text
            mid = sent.json()["messages"][0]["id"]
            wait_for(
                lambda: api.get(f"/v1/messages/{mid}").json()["status"] == "delivered",
                describe=lambda: api.get(f"/v1/messages/{mid}").json(),
            )
            submits = asyncio.run(smsc.received("submit_sm"))
            assert [(s["destination_addr"], s["text"]) for s in submits] == [("447400123456", "hi")]
            wait_for(lambda: any(e["data"]["status"] == "delivered" for e in receiver.events()))
            assert [e["data"]["status"] for e in receiver.events() if e["data"]["id"] == mid] == [
                "sent",
                "delivered",
            ]

        env = {**server.env, "TEXTGATE_URL": server.url}
        listed = json.loads(cli(env, "routes", "list", "--json"))
        assert listed["gateway"]["reachable"] is True
        assert listed["routes"] == [
            {"name": "default", "rules": {}, "strategy": "failover", "connectors": ["smsc1"]}
        ]
        (smsc1,) = listed["connectors"]
        assert (smsc1["name"], smsc1["type"], smsc1["health"]) == ("smsc1", "smpp", "up")
        assert smsc1["breaker"]["state"] == "closed"
        table = cli(env, "routes", "list")
        assert "smsc1 (up)" in table
        # From a shell without the gateway's TEXTGATE_CONFIG: the running gateway says what it runs.
        elsewhere = {k: v for k, v in env.items() if k != "TEXTGATE_CONFIG"}
        remote = json.loads(cli(elsewhere, "routes", "list", "--json"))
        assert remote["source"] == "gateway"
        assert [c["name"] for c in remote["connectors"]] == ["smsc1"]
        assert remote["connectors"][0]["health"] == "up"
        assert remote["routes"] == listed["routes"]
    finally:
        server.stop()
    # The gateway is gone: the configuration is still shown, the health is unknown.
    listed = json.loads(cli({**server.env, "TEXTGATE_URL": server.url}, "routes", "list", "--json"))
    assert listed["gateway"]["reachable"] is False
    assert listed["source"] == "configuration"
    assert listed["connectors"][0]["health"] == "unknown"


def test_serve_with_no_configuration_runs_on_the_simulator(db_url: str, tmp_path: Path) -> None:
    server = Server(db_url, tmp_path)
    server.env.pop("TEXTGATE_CONFIG", None)
    server.start()
    try:
        import httpx

        assert httpx.get(f"{server.url}/healthz").json()["connectors"] == {"simulator": "up"}
        listed = json.loads(cli({**server.env, "TEXTGATE_URL": server.url}, "routes", "list", "--json"))
        assert listed["routes"][0]["connectors"] == ["simulator"]
        assert listed["connectors"][0]["health"] == "up"
    finally:
        server.stop()


def test_a_configuration_mistake_stops_serve_with_a_clear_message(db_url: str, tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text(
        MINIMAL.format(port=2775, system_id="x", password="y").replace('["smsc1"]', '["smsc2"]')
    )
    server = Server(db_url, tmp_path, config=str(config))
    done = subprocess.run(
        [*TEXTGATE, "serve", "--port", str(server.port)],
        env=server.env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert "[[routes]] \"default\": connectors names 'smsc2'" in done.stderr


def test_a_long_message_s_parts_still_roll_up_after_serve_restarts(
    db_url: str, tmp_path: Path, smsc: Smsc
) -> None:
    """Part 1's receipt comes before a restart of ``serve``, parts 2 and 3 after: the new process finds
    the parts in the database and the message ends with the failed part's status, not the first's."""
    asyncio.run(smsc.reset())
    asyncio.run(smsc.rule("447400123457", receipt=None))  # receipts pushed by hand below
    config = tmp_path / "textgate.toml"
    config.write_text(MINIMAL.format(port=smsc.smpp_port, system_id=SYSTEM_ID, password=PASSWORD))
    server = Server(db_url, tmp_path, config=str(config))
    created = json.loads(cli(server.env, "accounts", "create", "acme", "--credits", "10", "--json"))
    cli(server.env, "numbers", "add", "acme", "+15551230001")
    body = "".join(f"Part text {i:03d} of a long message, GSM-7 only. " for i in range(9))[:400]

    def push(message_id: str, stat: str) -> None:
        text = f"id:{message_id} sub:001 dlvrd:001 submit date:2611221200 done date:2611221201 stat:{stat}"
        text += " err:000" if stat == "DELIVRD" else " err:001"
        asyncio.run(smsc.deliver(source="447400123457", dest="15551230001", text=text, esm_class=4))

    def answered() -> int:
        return len(asyncio.run(smsc.received("deliver_sm_resp")))

    server.start()
    try:
        with server.client(created["secret"]) as api:
            message = {"from": "+15551230001", "to": "+447400123457", "body": body}
            sent = api.post("/v1/messages", json=message)
            assert sent.status_code == 202, sent.text
            mid = sent.json()["messages"][0]["id"]
            assert sent.json()["messages"][0]["segments"] == 3
            wait_for(lambda: api.get(f"/v1/messages/{mid}").json()["status"] == "sent")
            ids = [s["message_id"] for s in asyncio.run(smsc.received("submit_sm"))]
            assert len(ids) == 3
            push(ids[0], "DELIVRD")
            wait_for(lambda: answered() == 1)  # answered once its outcome was stored
            assert api.get(f"/v1/messages/{mid}").json()["status"] == "sent"
        server.stop()
        server.start()
        with server.client(created["secret"]) as api:
            push(ids[1], "UNDELIV")
            push(ids[2], "DELIVRD")
            wait_for(
                lambda: api.get(f"/v1/messages/{mid}").json()["status"] == "undelivered",
                describe=lambda: api.get(f"/v1/messages/{mid}").json(),
            )
            wait_for(lambda: answered() == 3)
    finally:
        server.stop()
