"""An API-only ``serve`` (``TEXTGATE_RUN_WORKERS=false``) beside the ``serve`` that runs the workers, both
on one SQLite file: the API node takes sends, the worker node delivers them and sends the webhooks."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.e2e.harness import Receiver, Server, wait_for
from tests.e2e.test_webhook_senders import (
    DELIVERED,
    UNDELIVERED,
    send,
    start_with_account,
    verify_all,
    wait_for_final_webhooks,
)


@pytest.mark.e2e
def test_an_api_node_shares_the_sqlite_file_with_the_worker_node(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/textgate.db"
    workers = Server(url, tmp_path, sim_report_latency="0.1")
    api_node = Server(url, tmp_path, run_workers="false")
    created = start_with_account(workers)
    try:
        api_node.start()
        with Receiver() as receiver, api_node.client(created["secret"]) as api:
            hook = api.post("/v1/webhooks", json={"url": receiver.url, "events": ["message.status"]})
            assert hook.status_code == 201, hook.text
            ids = send(api, DELIVERED, UNDELIVERED) + send(api, DELIVERED)

            # Nobody nudges the worker node: it finds the sends at its next poll.
            wait_for_final_webhooks(receiver, ids)
            verify_all(receiver, hook.json()["secret"])

            def final(mid: str) -> str:
                return str(api.get(f"/v1/messages/{mid}").json()["status"])

            wait_for(lambda: [final(m) for m in ids] == ["delivered", "undelivered", "delivered"])

            # The API node runs no connectors: its health has none, and provider callbacks go elsewhere.
            health = httpx.get(f"{api_node.url}/healthz").json()
            assert health["status"] == "ok" and "connectors" not in health
            assert httpx.get(f"{workers.url}/healthz").json()["connectors"] == {"simulator": "up"}
            assert httpx.post(f"{api_node.url}/callbacks/simulator").status_code == 503
    finally:
        api_node.stop()
        workers.stop()
