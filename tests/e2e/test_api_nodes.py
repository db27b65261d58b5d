"""HTTP answered by other processes than the one that dispatches, on one SQLite file: an API-only ``serve``
(``TEXTGATE_RUN_WORKERS=false``) beside the one that runs the workers, and ``serve`` starting API
processes itself (``TEXTGATE_API_PROCESSES``)."""

from __future__ import annotations

import os
import signal
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


def _api_children(serve_pid: int) -> set[int]:
    try:
        kids = Path(f"/proc/{serve_pid}/task/{serve_pid}/children").read_text().split()
    except OSError:
        return set()
    return {int(k) for k in kids if "--api-fd" in Path(f"/proc/{k}/cmdline").read_text().replace("\0", " ")}


@pytest.mark.e2e
def test_serve_answers_http_in_api_processes_and_dispatches_itself(tmp_path: Path) -> None:
    settings = {"api_processes": "2", "sim_report_latency": "0.1"}
    server = Server(f"sqlite:///{tmp_path}/textgate.db", tmp_path, **settings)
    created = start_with_account(server)
    assert server.proc is not None
    serve_pid = server.proc.pid
    try:
        wait_for(lambda: len(_api_children(serve_pid)) == 2, describe=lambda: _api_children(serve_pid))
        children = _api_children(serve_pid)
        with Receiver() as receiver, server.client(created["secret"]) as api:
            hook = api.post("/v1/webhooks", json={"url": receiver.url, "events": ["message.status"]})
            assert hook.status_code == 201, hook.text
            ids = send(api, DELIVERED, UNDELIVERED)
            wait_for_final_webhooks(receiver, ids)
            verify_all(receiver, hook.json()["secret"])

            # What needs the connectors is passed on to the serve that runs them, whichever child answers.
            for _ in range(6):
                with httpx.Client() as fresh:  # a new connection each time: any child may take it
                    health = fresh.get(f"{server.url}/healthz")
                    assert health.status_code == 200 and health.json()["connectors"] == {"simulator": "up"}
                    callback = fresh.post(f"{server.url}/callbacks/nope?x=1", content=b"{}")
                    assert callback.status_code == 404 and "no connector named 'nope'" in callback.text

        # A child that dies is replaced; stopping serve stops them all.
        victim = min(children)
        os.kill(victim, signal.SIGKILL)
        wait_for(
            lambda: len(_api_children(serve_pid)) == 2 and victim not in _api_children(serve_pid),
            describe=lambda: _api_children(serve_pid),
        )
        children |= _api_children(serve_pid)
        assert httpx.get(f"{server.url}/healthz").status_code == 200
    finally:
        server.stop()
    wait_for(lambda: not any(Path(f"/proc/{pid}").exists() for pid in children), timeout=15)


@pytest.mark.e2e
def test_api_processes_end_when_their_serve_is_killed(tmp_path: Path) -> None:
    server = Server(f"sqlite:///{tmp_path}/textgate.db", tmp_path, api_processes="2")
    start_with_account(server)
    assert server.proc is not None
    serve_pid = server.proc.pid
    children: set[int] = set()
    try:
        wait_for(lambda: len(_api_children(serve_pid)) == 2, describe=lambda: _api_children(serve_pid))
        children = _api_children(serve_pid)
        server.kill()  # SIGKILL: no shutdown of its own; the children see their stdin close
        wait_for(
            lambda: not any(_alive(pid) for pid in children),
            timeout=20,
            describe=lambda: {pid: _alive(pid) for pid in children},
        )
    finally:
        server.stop()
        for pid in children:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)


def _alive(pid: int) -> bool:
    """Running (not gone and not a zombie waiting for its reaper)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"
