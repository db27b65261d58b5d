"""Betatel clients against a real ``textgate serve``: the published SDK (``betatelsdk==0.0.8``), the doc's
curl command and its Python snippet, and status callbacks in the ``betatel`` format.

The SDK has no base-URL option: ``SDKBase.__init__`` hard-codes ``https://api.betatel.com`` and derives
``_base_api`` from it, so :func:`point_at` sets those two attributes on the SDK object after
construction. The SDK's code is otherwise used unchanged. The doc's Python snippet opens
``http.client.HTTPSConnection("api.betatel.com")``; the test runs it with that one call replaced by a
plain-HTTP connection to the local server (textgate serves HTTP; TLS is the reverse proxy's job).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import betatelsdk  # a dev dependency: its absence is a failure, never a skip
import pytest
import requests

from tests.e2e.harness import Receiver, Server, cli, wait_for
from tests.providers.betatel import examples

pytestmark = pytest.mark.e2e


def point_at(sdk: Any, base_url: str) -> Any:
    """Aim a betatelsdk client (or one of its parts) at ``base_url`` — the only change made to it."""
    for part in (
        sdk,
        *(getattr(sdk, name) for name in ("sms", "call", "voice", "carrier") if hasattr(sdk, name)),
    ):
        part._base_url = base_url
        part._base_api = f"{base_url}/api/{part._version}"
        part._base_ver_api = f"{base_url}/{part._version}/api"
    return sdk


@pytest.fixture
def server(db_url: str, tmp_path: Path) -> Any:
    server = Server(db_url, tmp_path, sim_report_latency="0.2")
    created = json.loads(cli(server.env, "accounts", "create", "acme", "--credits", "100", "--json"))
    cli(server.env, "numbers", "add", "acme", "+15551230001")
    server.start()
    try:
        yield server, created
    finally:
        server.stop()


def test_the_published_sdk_sends_and_follows_a_message(server: Any) -> None:
    srv, created = server
    sdk = point_at(betatelsdk.BetatelSDK(api_key=created["secret"], user_id=created["key_id"]), srv.url)
    with Receiver() as receiver:
        cli(
            srv.env,
            "webhooks",
            "add",
            "acme",
            receiver.url,
            "--event",
            "message.status",
            "--format",
            "betatel",
        )

        sent = sdk.sms.send("Sender", "12345678548", "Your code is 555345")
        assert set(sent) == {"messageId", "from", "to"}
        assert uuid.UUID(sent["messageId"]).version == 1
        assert (sent["from"], sent["to"]) == ("Sender", "12345678548")

        wait_for(
            lambda: sdk.sms.get_status(sent["messageId"])["status"] == "Delivered",
            describe=lambda: sdk.sms.get_status(sent["messageId"]),
        )
        assert sdk.sms.get_status(sent["messageId"]) == {
            "messageId": sent["messageId"],
            "status": "Delivered",
            "userId": created["key_id"],
        }
        details = sdk.sms.get_details(sent["messageId"])
        assert (details["from"], details["to"], details["text"], details["segments"]) == (
            "Sender",
            "12345678548",
            "Your code is 555345",
            1,
        )
        assert details["deliveredAt"] is not None

        wait_for(lambda: len(receiver.events()) >= 2, describe=receiver.events)
        events = [(e["event"], e["messageId"], e["status"]) for e in receiver.events()]
        assert events == [
            ("message.status", sent["messageId"], "Sent"),
            ("message.status", sent["messageId"], "Delivered"),
        ]

    # A number as sender (one of the account's), '+' or not.
    assert sdk.sms.send("+15551230001", "+38161444555", "hello")["from"] == "15551230001"

    # Errors reach the SDK as its own HTTPError with the status and Betatel-shaped body.
    wrong = point_at(betatelsdk.SMSDK(api_key="tgs_" + "x" * 32, user_id=created["key_id"]), srv.url)
    with pytest.raises(requests.exceptions.HTTPError, match=r"SMSDK\.send failed: 401 - "):
        wrong.send("Sender", "12345678548", "Your code is 555345")
    with pytest.raises(requests.exceptions.HTTPError, match=r'SMSDK\.send failed: 400 - .*"message":"to: '):
        sdk.sms.send("Sender", "not-a-number", "hi")
    with pytest.raises(requests.exceptions.HTTPError, match=r"SMSDK\.get_details failed: 404"):
        sdk.sms.get_details(str(uuid.uuid4()))


def test_the_doc_curl_command(server: Any) -> None:
    assert shutil.which("curl"), "curl is needed to run the documented command (scripts/test installs it)"
    srv, created = server
    command = examples.substitute(examples.CURL, srv.url, created["secret"], created["key_id"])
    out = subprocess.run(["bash", "-c", command + " --silent"], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    answer = json.loads(out.stdout)
    assert set(answer) == {"messageId", "from", "to"}
    assert (answer["from"], answer["to"]) == ("Sender", "12345678548")


def test_the_doc_python_snippet(server: Any) -> None:
    srv, created = server
    snippet = examples.substitute(examples.PYTHON, srv.url, created["secret"], created["key_id"])
    snippet = snippet.replace(
        'http.client.HTTPSConnection("api.betatel.com")',
        f'http.client.HTTPConnection("127.0.0.1", {srv.port})',
    )
    out = subprocess.run([sys.executable, "-c", snippet], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    answer = json.loads(out.stdout)
    assert set(answer) == {"messageId", "from", "to"}
    assert (answer["from"], answer["to"]) == ("Sender", "12345678548")
