"""TextBetter as a customer would use it against ``textgate serve``: the document's curl commands run by the
real ``curl`` (base URL, credentials and — because +1 200 300 4001 is unassigned — the recipient
substituted), and inbound forwarding configured with ``textgate webhooks add ... --format textbetter_v2``
and ``textbetter_v1``, received by a real HTTP server. No TextBetter SDK is published, so curl is the client.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from urllib.parse import parse_qsl

import httpx
import pytest

from tests.e2e.harness import Server, cli, wait_for
from tests.providers.textbetter.conftest import RECIPIENT, start_hook_server
from tests.providers.textbetter.support import CURL_EXAMPLE, MMS_CURL, PNG_B64, SMS_CURL

pytestmark = pytest.mark.e2e


def curl(command: str) -> tuple[int, str]:
    """Run a curl command line as a shell would; returns (HTTP status, body)."""
    proc = subprocess.run(
        ["bash", "-c", command + " --silent --show-error --write-out '\\n%{http_code}'"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    body, _, status = proc.stdout.rpartition("\n")
    return int(status), body


def test_curl_examples_and_inbound_forwarding(db_url: str, tmp_path: Path) -> None:
    server = Server(db_url, tmp_path, sim_report_latency="0.2")
    created = json.loads(cli(server.env, "accounts", "create", "acme", "--credits", "100", "--json"))
    cli(server.env, "numbers", "add", "acme", "+15551230001")
    hooks, http = start_hook_server()
    for fmt in ("textbetter_v2", "textbetter_v1"):
        cli(
            server.env,
            "webhooks",
            "add",
            "acme",
            f"{hooks.url}/{fmt}",
            "--event",
            "message.received",
            "--format",
            fmt,
            "--number",
            "+15551230001",
        )
    server.start()
    try:

        def v2(command: str) -> str:
            return (
                command.replace("https://api2.textbetter.com", server.url)
                .replace("{FUNCTION_CODE}", created["key_id"])
                .replace("YOUR_CUSTOMER_API_KEY", created["secret"])
            )

        status, body = curl(v2(SMS_CURL))  # verbatim: +1 200 300 4001 is a possible number
        assert status == 201, body
        assert json.loads(body)["message"] == "Valid Message"
        status, body = curl(v2(SMS_CURL).replace("12003004001", RECIPIENT))
        assert status == 201, body
        sms_id = json.loads(body)["RecordID"]

        status, body = curl(v2(MMS_CURL).replace("12003004001", RECIPIENT))
        assert status == 400 and "images[0] is not valid base64" in json.loads(body)["message"]
        status, body = curl(
            v2(MMS_CURL).replace("12003004001", RECIPIENT).replace("BASE64_ENCODED_IMAGE", PNG_B64)
        )
        assert status == 201, body
        mms_id = json.loads(body)["RecordID"]

        v1 = (
            CURL_EXAMPLE.replace("https://api.textbetter.com", server.url)
            .replace("YOUR_KEY", created["secret"])
            .replace("12003004001", RECIPIENT)
        )
        assert curl(v1) == (200, "Success!")

        api = server.client(created["secret"])
        with api:
            for message_id in (sms_id, mms_id):
                wait_for(lambda m=message_id: api.get(f"/v1/messages/{m}").json()["status"] == "delivered")
            assert api.get(f"/v1/messages/{mms_id}").json()["type"] == "mms"

        out = json.loads(
            cli(
                server.env,
                "simulate",
                "inbound",
                "--from",
                "+15550001000",
                "--to",
                "+15551230001",
                "Hi",
                "--json",
            )
        )
        wait_for(lambda: len(hooks.snapshot()) >= 2, describe=hooks.snapshot)
        by_path = {h.path: h for h in hooks.snapshot()}
        posted = by_path["/sms/textbetter_v2"]
        assert posted.method == "POST"
        event = json.loads(posted.body)
        assert {k: event[k] for k in ("id", "to", "from", "type", "text")} == {
            "id": out["id"],
            "to": "15551230001",
            "from": "15550001000",
            "type": "SMS",
            "text": "Hi",
        }
        assert isinstance(event["timestamp"], int)
        got = by_path["/sms/textbetter_v1"]
        assert got.method == "GET"
        assert parse_qsl(got.query) == [("From", "15550001000"), ("To", "15551230001"), ("Message", "Hi")]
        # Status events (sent, delivered) were not forwarded in either format.
        assert len(hooks.snapshot()) == 2
        assert httpx.get(f"{server.url}/openapi.json").json()["paths"]["/api/SendOutgoingMessages"]["post"][
            "tags"
        ] == ["TextBetter dialect"]
    finally:
        server.stop()
        http.shutdown()
        http.server_close()
