"""Text-Connect over real HTTP: ``textgate serve`` as a subprocess, driven by a plain HTTP client the way
Text-Connect's own example URLs are (query strings and forms), and its inbound forwarding received by a
real HTTP server.

Text-Connect publishes no client library; its document is a list of URLs, so httpx stands in for a
browser or ``curl`` fetching them.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qsl

import httpx
import pytest

from tests.e2e.harness import Receiver, Server, cli, wait_for
from textgate.domain.clock import utcnow
from textgate.service.accounts import find_account
from textgate.service.lists import ListEntryInput, add_list_entries, create_list
from textgate.store.db import make_engine

pytestmark = pytest.mark.e2e

VMN = "+447777777000"  # the account's virtual mobile number
HANDSET = "+447777777771"


def _mail_merge_list(db_url: str) -> None:
    """A distribution list with the handset in it (lists have no CLI command; the service makes it)."""
    engine = make_engine(db_url)
    try:
        with engine.begin() as conn:
            account = find_account(conn, "acme")
            found = create_list(conn, account, "Customers", ["Town"], now=utcnow())
            entry = ListEntryInput(number=HANDSET, name="Ann Lee", email="ann@example.com", fields=["Leeds"])
            add_list_entries(conn, account, found.id, [entry], now=utcnow())
    finally:
        engine.dispose()


def test_send_status_and_inbound_forwarding(db_url: str, tmp_path: Path) -> None:
    server = Server(db_url, tmp_path, sim_report_latency="0.2")
    created = json.loads(
        cli(server.env, "accounts", "create", "acme", "--credits", "100", "--region", "GB", "--json")
    )
    cli(server.env, "numbers", "add", "acme", VMN)
    _mail_merge_list(db_url)
    token = created["secret"]
    with Receiver() as receiver:
        cli(
            server.env,
            "webhooks",
            "add",
            "acme",
            receiver.url,
            "--event",
            "message.received",
            "--format",
            "textconnect",
            "--number",
            VMN,
            "--option",
            "method=POST",
            "--option",
            "auth=s3cret",
            "--option",
            "mailmerge_list=Customers",
        )
        server.start()
        try:
            with httpx.Client(base_url=server.url, timeout=30) as api:
                # The document's Send example URL, with a token and a number filled in.
                sent = api.get(
                    f"/api?Token={token}&Action=Send&DestinationAddress=447777777772"
                    "&SourceAddress=API&Body=Hello%20World"
                )
                assert sent.status_code == 200
                message_id = sent.text
                assert message_id.startswith("msg_"), message_id

                def status() -> str:
                    answer = api.post(
                        "/api", data={"Token": token, "Action": "checkmessagestatus", "MessageID": message_id}
                    )
                    return answer.text

                wait_for(lambda: status() == "Delivered", describe=status)
                assert api.get("/api", params={"Token": token, "Action": "CheckCredits"}).text == "99"
                refused = api.get(
                    "/api", params={"Token": "tgs_wrong", "Action": "CheckCredits", "ShowErrorMessage": "1"}
                )
                assert refused.text == "-501\nUnknown Username/Password"

            out = cli(server.env, "simulate", "inbound", "--from", HANDSET, "--to", VMN, "Hello & welcome")
            assert "received msg_" in out
            inbound_id = out.split()[1]
            wait_for(lambda: len(receiver.requests) >= 1)
            headers, body = receiver.requests[0]
            assert headers["content-type"] == "application/x-www-form-urlencoded"
            fields = dict(parse_qsl(body.decode(), keep_blank_values=True))
            received = datetime.strptime(fields.pop("receivedts"), "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
            assert abs(utcnow() - received) < timedelta(minutes=5)  # the account's zone is UTC
            assert fields == {
                "source": "447777777771",
                "dest": "447777777000",
                "msg": "Hello & welcome",
                "id": inbound_id,
                "auth": "s3cret",
                "MMName": "Ann Lee",
                "MMEmail": "ann@example.com",
                "MM1": "Leeds",
                "MM2": "",
                "MM3": "",
                "MM4": "",
                "MM5": "",
            }
        finally:
            server.stop()
