"""``/metrics`` of a running ``serve`` with API processes: the counts of every process added up (the
children that accepted the sends, the parent that dispatched them), the per-connector answers, the
latency histograms and the queue gauges counted in the database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.harness import Server, wait_for
from tests.e2e.test_webhook_senders import DELIVERED, UNDELIVERED, send, start_with_account

pytestmark = pytest.mark.e2e


def samples(url: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    r = httpx.get(f"{url}/metrics", headers={"Connection": "close"})
    assert r.status_code == 200
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(r.text)
        for s in family.samples
    }


def value(got: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float:
    return got.get((name, frozenset(labels.items())), 0.0)


def test_metrics_add_up_every_process(tmp_path: Path) -> None:
    server = Server(
        f"sqlite:///{tmp_path}/textgate.db", tmp_path, api_processes="2", sim_report_latency="0.1"
    )
    created = start_with_account(server)
    try:
        ids: list[str] = []
        for _ in range(6):  # a connection each: the kernel hands them to both children
            with server.client(created["secret"]) as api:
                api.headers["Connection"] = "close"
                ids += send(api, DELIVERED, UNDELIVERED)
        with server.client(created["secret"]) as api:
            later = api.post(
                "/v1/messages",
                json={
                    "from": "+15551230001",
                    "to": [DELIVERED],
                    "body": "later",
                    "schedule_at": (datetime.now(UTC) + timedelta(days=30)).isoformat(),
                },
            )
            assert later.status_code == 202, later.text

            def finals() -> int:
                return sum(
                    api.get(f"/v1/messages/{m}").json()["status"] in ("delivered", "undelivered") for m in ids
                )

            wait_for(lambda: finals() == len(ids))

        def settled() -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
            got = samples(server.url)
            assert value(got, "textgate_accept_to_delivered_seconds_count") == 6, got
            return got

        wait_for(lambda: bool(settled()), timeout=15)  # the cached queue gauges refresh every 5 s
        got = samples(server.url)
        # Accepted in the children, however many answered: 12 now, 1 scheduled.
        assert value(got, "textgate_messages_accepted_total", source="api") == 13
        # Submitted, answered and received in the parent.
        assert value(got, "textgate_connector_submits_total", connector="simulator", outcome="accepted") == 12
        assert value(got, "textgate_accept_to_sent_seconds_count") == 12
        assert value(got, "textgate_messages_finished_total", status="delivered") == 6
        assert value(got, "textgate_messages_finished_total", status="undelivered") == 6
        buckets = {
            dict(labels)["le"]: v
            for (name, labels), v in got.items()
            if name == "textgate_accept_to_delivered_seconds_bucket"
        }
        assert buckets["+Inf"] == 6 and buckets["0.01"] <= buckets["60.0"] == 6
        wait_for(
            lambda: value(samples(server.url), "textgate_messages_queued", status="scheduled") == 1,
            timeout=15,
        )
        got = samples(server.url)
        assert value(got, "textgate_messages_queued", status="queued") == 0
        assert ("textgate_webhook_backlog", frozenset()) in got
        assert server.proc is not None
        environ = Path(f"/proc/{server.proc.pid}/environ").read_bytes().split(b"\0")
        metrics_dir = Path(
            next(v for v in environ if v.startswith(b"PROMETHEUS_MULTIPROC_DIR=")).decode().split("=", 1)[1]
        )
        assert list(metrics_dir.glob("*.db"))  # a file per process
    finally:
        server.stop()
    assert not metrics_dir.exists()  # serve removes the directory it made
