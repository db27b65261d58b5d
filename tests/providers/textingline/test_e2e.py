"""TextingLine over real HTTP: ``textgate serve`` as a subprocess, the seed's curl commands run by the real
``curl`` (only host, credentials and media URL substituted), media from a real local server and the
``textingline`` webhook format received by a real HTTP receiver.

No published TextingLine SDK exists (none on PyPI or npm), so curl — the document's own client — is it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.harness import Receiver, Server, cli, wait_for
from tests.providers.textingline.media_server import MediaServer
from tests.providers.textingline.seed import MMS_CURL, RECIPIENT, SENDER, SMS_CURL, substituted

pytestmark = pytest.mark.e2e


def _curl(command: str) -> dict[str, Any]:
    assert shutil.which("curl"), "curl is needed to run the seed's commands (scripts/test installs it)"
    proc = subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    body: dict[str, Any] = json.loads(proc.stdout)
    return body


def test_seed_examples_over_real_http(db_url: str, tmp_path: Path) -> None:
    server = Server(db_url, tmp_path, sim_report_latency="0.2")
    created = json.loads(cli(server.env, "accounts", "create", "acme", "--credits", "100", "--json"))
    cli(server.env, "numbers", "add", "acme", SENDER)
    key_id, secret = created["key_id"], created["secret"]
    server.start()
    try:
        with Receiver() as receiver, MediaServer() as media, server.client(secret) as native:
            hook = native.post(
                "/v1/webhooks",
                json={"url": receiver.url, "events": ["message.status"], "format": "textingline"},
            )
            assert hook.status_code == 201, hook.text
            api = httpx.Client(base_url=server.url, auth=(key_id, secret), timeout=30)

            sms = _curl(substituted(SMS_CURL, base_url=server.url, key_id=key_id, secret=secret))
            assert (sms["status"], sms["to"], sms["from"]) == ("queued", RECIPIENT, SENDER)
            assert sms["body"] == "Your verification code is 482910"

            mms_command = substituted(
                MMS_CURL,
                base_url=server.url,
                key_id=key_id,
                secret=secret,
                media_url=media.url("/images/promo.jpg"),
            )
            mms = _curl(mms_command)
            assert mms["status"] == "queued", mms
            assert mms["mediaUrl"] == media.url("/images/promo.jpg")
            assert media.hits == ["/images/promo.jpg"]

            refused = api.post(
                "/api/v1/messaging/message", json={"to": "+15550000002", "from": SENDER, "body": "hi"}
            )
            assert refused.status_code == 201, refused.text

            def status(message_id: str) -> str:
                return str(api.get(f"/api/v1/messaging/message/{message_id}").json()["status"])

            wait_for(lambda: status(sms["id"]) == "sent" and status(mms["id"]) == "sent")
            wait_for(lambda: status(refused.json()["id"]) == "failed")
            failed = api.get(f"/api/v1/messaging/message/{refused.json()['id']}").json()
            assert failed["errorType"] == "invalid_destination"
            assert "sentAt" not in failed

            sent = api.get(f"/api/v1/messaging/message/{sms['id']}").json()
            assert sent["sentAt"].endswith("Z")

            def hooked() -> dict[str, list[str]]:
                seen: dict[str, list[str]] = {}
                for event in receiver.events():
                    seen.setdefault(event["id"], []).append(event["status"])
                return seen

            wait_for(
                lambda: (
                    "sent" in hooked().get(sms["id"], [])
                    and "failed" in hooked().get(refused.json()["id"], [])
                )
            )
            assert all(
                set(event) >= {"id", "direction", "status", "createdAt"} for event in receiver.events()
            )

            errors = api.post(
                "/api/v1/messaging/message", json={"to": RECIPIENT, "from": "+15551230002", "body": "x"}
            )
            assert errors.status_code == 400
            assert errors.json()["code"] == 33004
            api.close()
    finally:
        server.stop()
