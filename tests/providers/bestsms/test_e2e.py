"""BestSMS against a real ``textgate serve``: the document's example over HTTP, the published ``bestsms``
SDK (3.0.0.0) unchanged with only its base URL pointed at textgate, and the JSON and XML reports a real
webhook receiver gets."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import httpx
import pytest
from bestsms import BestSMS  # a dev dependency (bestsms==3.0.0.0): its absence is a failure, never a skip
from bestsms.core.send_mode import SendMode

from tests.e2e.harness import Receiver, Server, cli, wait_for
from tests.providers.bestsms.test_send import SPEC_REQUEST, guid_pattern

pytestmark = pytest.mark.e2e

SENDER = "api@department01.co"


def spec_form(secret: str) -> dict[str, str]:
    lines = SPEC_REQUEST.splitlines()
    form = dict(line.split("=", 1) for line in lines[1:])
    return {**form, "Sender": SENDER, "Token": secret}


def reports(receiver: Receiver, kind: str) -> list[dict[str, str]]:
    out: list[dict[str, str]] = []
    for headers, body in list(receiver.requests):
        if kind == "xml" and headers.get("content-type", "").startswith("application/xml"):
            root = ET.fromstring(body)  # noqa: S314 - textgate's own output
            out.append({child.tag: child.text or "" for child in root})
        elif kind == "json" and headers.get("content-type", "").startswith("application/json"):
            out.append(json.loads(body))
    return out


def test_bestsms_clients_against_a_real_server(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = Server(db_url, tmp_path, sim_report_latency="0.2")
    cli(server.env, "accounts", "create", "department01", "--credits", "100", "--region", "AU", "--json")
    key = json.loads(cli(server.env, "keys", "create", "department01", "--name", SENDER, "--json"))
    cli(server.env, "numbers", "add", "department01", "0491570110")
    cli(server.env, "accounts", "set", "department01", "--setting", "timezone=Australia/Sydney")
    with Receiver() as receiver:
        for fmt in ("bestsms_json", "bestsms_xml"):
            cli(
                server.env,
                "webhooks",
                "add",
                "department01",
                receiver.url,
                "--format",
                fmt,
                "--option",
                f"sender={SENDER}",
                "--option",
                "token=ta8wr7ymd",
                "--option",
                "timezone=Australia/Sydney",
            )
        server.start()
        try:
            # The document's example, as a form POST and as a GET query string.
            posted = httpx.post(f"{server.url}/bestsms/send", data=spec_form(key["secret"]), timeout=30)
            assert posted.status_code == 200, posted.text
            assert guid_pattern().fullmatch(posted.json()["MessageID"])
            got = httpx.get(
                f"{server.url}/bestsms/send", params={**spec_form(key["secret"]), "MessageID": "ID123456"}
            )
            assert got.json() == {"Result": "Success", "MessageID": "ID123456"}

            # The SDK, unchanged: only its base URL (and its switch for plain HTTP on loopback).
            monkeypatch.setenv("BESTSMS_ALLOW_INSECURE_HTTP", "true")
            client = BestSMS(AuthToken=key["secret"], BaseURL=f"{server.url}/api/v3.00")
            response = client.Messaging.SMS.SendMessage(
                Message="Test SMS Message click [[Reply]] to opt out",
                Destination="+61491570006",
                Reference="Test",
            )
            assert response.Result == "Success", response.ErrorMessage
            message_id = response.MessageID
            assert guid_pattern().fullmatch(message_id)

            test = (
                client.Messaging.SMS.Set(
                    Message="Test SMS Message click [[Reply]] to opt out", Mode=SendMode.Test
                )
                .AddDestination("+61491570007")
                .SendMessage()
            )
            assert test.Result == "Success"

            def status() -> Any:
                return client.Reports.Status.Poll(MessageID=message_id)

            wait_for(lambda: status().Recipients[0].Status == "Success", describe=lambda: status().to_dict())
            done = status()
            assert (done.Result, done.JobStatus, done.Count, done.Success, done.Reference) == (
                "Success",
                "Completed",
                1,
                1,
                "Test",
            )
            assert done.Recipients[0].Destination == "+61491570006"
            assert done.Timezone == "Australia/Sydney"

            tested = client.Messaging.SMS.Status(test.MessageID)
            assert tested.Recipients[0].Status == "Pending"
            assert tested.to_dict()["Price"] == "0.00"

            cli(
                server.env,
                "simulate",
                "inbound",
                "--from",
                "+61491570006",
                "--to",
                "+61491570110",
                "This is a reply.",
            )
            replies = client.Messaging.SMS.Reply(message_id)
            assert replies.Result == "Success"
            (reply,) = replies.Recipients[0].SMSReplies
            assert (reply.From, reply.MessageText) == ("+61491570006", "This is a reply.")
            assert (
                client.Reports.SMSReply.Poll(MessageID=message_id).Recipients[0]["SMSReplies"][0][
                    "MessageText"
                ]
                == "This is a reply."
            )
            received = client.Reports.SMSReceived.Poll(TimePeriod=60)
            assert received.Result == "Success"
            assert [m["MessageText"] for m in received.Messages] == ["This is a reply."]
            assert received.Messages[0]["MessageID"] == message_id

            missing = client.Messaging.SMS.Status("NOSUCHID")
            assert missing.Result == "RecordNotFound"
            wrong = BestSMS(
                AuthToken="tgs_wrong", BaseURL=f"{server.url}/api/v3.00"
            ).Messaging.SMS.SendMessage(Message="hi", Destination="+61491570006")
            assert (wrong.Result, wrong.ErrorMessage) == ("Unauthorized", ["invalid AuthToken"])
            refused = client.Messaging.SMS.SendMessage(Message="x" * 161, Destination="+61491570006")
            assert refused.Result == "Failed"
            assert refused.ErrorMessage == ["the message needs 2 parts; this account allows 1"]

            # Delivery and reply reports, in both formats, to a real receiver.
            def ours(kind: str) -> list[dict[str, str]]:
                return [r for r in reports(receiver, kind) if r["MessageID"] == message_id]

            wait_for(
                lambda: len(ours("json")) >= 3 and len(ours("xml")) >= 3, describe=lambda: receiver.requests
            )
            for kind in ("json", "xml"):
                by_status = {r["Status"]: r for r in ours(kind)}
                assert set(by_status) == {"PENDING", "SUCCESS", "RECEIVED"}
                delivered, reply_report = by_status["SUCCESS"], by_status["RECEIVED"]
                assert (delivered["Sender"], delivered["Token"], delivered["Type"]) == (
                    SENDER,
                    "ta8wr7ymd",
                    "SMS",
                )
                assert (delivered["Destination"], delivered["Result"], delivered["Price"]) == (
                    "+61491570006",
                    "delivered",
                    "1.00",
                )
                assert delivered["SentTime"].endswith(("a.m.", "p.m."))
                assert (reply_report["Type"], reply_report["Message"]) == ("SMSReply", "This is a reply.")
                assert reply_report["JobNumber"] == delivered["JobNumber"] == done.JobNum
        finally:
            server.stop()
