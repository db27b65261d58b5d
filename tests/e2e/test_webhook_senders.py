"""``serve`` with TEXTGATE_WEBHOOK_PROCESSES: webhooks sent by child ``textgate webhooks worker`` processes,
a killed one replaced, none left behind when ``serve`` stops.

The children are found the way an operator would: the kernel's list of the ``serve`` process's children
(/proc/<pid>/task/<tid>/children) and their command lines. A dead child that was not reaped yet is a
zombie with an empty command line, so it never counts as a running sender.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from standardwebhooks import Webhook

from tests.e2e.harness import Receiver, Server, cli, wait_for
from textgate.config import Settings
from textgate.workers.senders import SenderProcesses

NUMBER = "+15551230001"
DELIVERED, UNDELIVERED = "+15550000001", "+15550000008"  # simulator test numbers
FINAL = {"delivered", "undelivered"}


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
    except (FileNotFoundError, ProcessLookupError):
        return ""


def _state(pid: int) -> str:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return ""
    return stat.rsplit(")", 1)[1].split()[0]  # the field after "(comm)"; comm may hold spaces


def is_sender(pid: int) -> bool:
    """A running (not zombie) ``textgate webhooks worker`` process."""
    return _state(pid) not in ("", "Z", "X") and "-m textgate webhooks worker" in _cmdline(pid)


def senders_of(pid: int) -> set[int]:
    """The running ``webhooks worker`` children of process ``pid``."""
    children: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(FileNotFoundError):  # a thread that just ended
            children |= {int(c) for c in (task / "children").read_text().split()}
    return {child for child in children if is_sender(child)}


def wait_for_senders(serve_pid: int, count: int) -> set[int]:
    """Until ``serve`` has exactly ``count`` running senders; those senders."""
    wait_for(lambda: len(senders_of(serve_pid)) == count, timeout=15, describe=lambda: senders_of(serve_pid))
    return senders_of(serve_pid)


def send(api: httpx.Client, *to: str) -> list[str]:
    sent = api.post("/v1/messages", json={"from": NUMBER, "to": list(to), "body": "hello"})
    assert sent.status_code == 202, sent.text
    return [m["id"] for m in sent.json()["messages"]]


def statuses(receiver: Receiver, message_id: str) -> list[str]:
    return [
        e["data"]["status"]
        for e in receiver.events()
        if e["type"] == "message.status" and e["data"]["id"] == message_id
    ]


def wait_for_final_webhooks(receiver: Receiver, ids: list[str]) -> None:
    wait_for(
        lambda: all(set(statuses(receiver, mid)) & FINAL for mid in ids),
        describe=lambda: {mid: statuses(receiver, mid) for mid in ids},
    )


def verify_all(receiver: Receiver, secret: str) -> None:
    verifier = Webhook(secret)
    assert receiver.requests
    for headers, body in receiver.requests:
        assert {"webhook-id", "webhook-timestamp", "webhook-signature"} <= set(headers)
        verifier.verify(body, headers)  # raises if the signature is wrong


def start_with_account(server: Server) -> dict[str, Any]:
    created: dict[str, Any] = json.loads(
        cli(server.env, "accounts", "create", "acme", "--credits", "100", "--json")
    )
    cli(server.env, "numbers", "add", "acme", NUMBER)
    server.start()
    return created


def end_leftovers(pids: set[int]) -> None:
    """Clean-up after a failed test: only processes seen as this test's senders, and only if still so."""
    for pid in pids:
        if is_sender(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


@contextlib.contextmanager
def serve_with_senders(
    tmp_path: Path, count: int, **settings: str
) -> Iterator[tuple[Server, dict[str, Any], set[int]]]:
    """``serve`` (with an account) running ``count`` sender processes: the server, the account, and the
    senders' pids (a set the test may add to). Whatever the test does to ``serve``, no sender is left
    running afterwards."""
    server = Server(f"sqlite:///{tmp_path}/textgate.db", tmp_path, webhook_processes=str(count), **settings)
    created = start_with_account(server)
    assert server.proc is not None
    seen: set[int] = set()
    try:
        seen |= wait_for_senders(server.proc.pid, count)
        yield server, created, seen
    finally:
        with contextlib.suppress(subprocess.TimeoutExpired):
            server.stop()
        end_leftovers(seen)


@pytest.mark.e2e
def test_sender_processes_send_signed_webhooks_and_replace_a_killed_one(tmp_path: Path) -> None:
    with serve_with_senders(tmp_path, 2, sim_report_latency="0.1") as (server, created, seen):
        assert server.proc is not None
        serve_pid = server.proc.pid
        first = set(seen)
        with Receiver() as receiver, server.client(created["secret"]) as api:
            hook = api.post("/v1/webhooks", json={"url": receiver.url, "events": ["message.status"]})
            assert hook.status_code == 201, hook.text
            secret = hook.json()["secret"]

            ids = send(api, DELIVERED, UNDELIVERED)
            wait_for_final_webhooks(receiver, ids)
            assert statuses(receiver, ids[0]) == ["sent", "delivered"]  # per-message order kept
            assert statuses(receiver, ids[1]) == ["sent", "undelivered"]
            verify_all(receiver, secret)
            assert senders_of(serve_pid) == first  # exactly the same two all along

            victim = min(first)
            os.kill(victim, signal.SIGKILL)

            def replaced_victim() -> bool:
                now = senders_of(serve_pid)  # one reading: the victim may die between two
                return len(now) == 2 and victim not in now

            wait_for(replaced_victim, timeout=10, describe=lambda: senders_of(serve_pid))
            replaced = senders_of(serve_pid)
            seen |= replaced
            assert replaced - first and replaced & first == first - {victim}

            later = send(api, DELIVERED, DELIVERED, UNDELIVERED)
            wait_for_final_webhooks(receiver, later)
            for mid, final in zip(later, ["delivered", "delivered", "undelivered"], strict=True):
                assert statuses(receiver, mid) == ["sent", final]
            verify_all(receiver, secret)
            assert senders_of(serve_pid) == replaced  # the replacement stays up

        server.proc.send_signal(signal.SIGINT)  # Ctrl-C to serve alone, not to its process group
        assert server.proc.wait(30) is not None
        assert {pid for pid in seen if is_sender(pid)} == set(), "sender processes outlived serve"


@pytest.mark.e2e
def test_sigterm_to_serve_stops_its_sender_processes(tmp_path: Path) -> None:
    with serve_with_senders(tmp_path, 2) as (server, _created, seen):
        server.stop()  # SIGTERM, as a service manager does
        assert server.proc is not None and server.proc.returncode is not None
        assert {pid for pid in seen if is_sender(pid)} == set(), "sender processes outlived serve"


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:"])
def test_sender_processes_refuse_an_in_memory_database(url: str) -> None:
    # Each child would open its own empty database: the webhooks queued by serve would never be sent.
    senders = SenderProcesses(Settings(database_url=url), 1)
    with pytest.raises(ValueError, match="in-memory"):
        asyncio.run(senders.start())
    assert senders.procs == []


@pytest.mark.e2e
def test_serve_wakes_its_senders_instead_of_waiting_for_their_poll(tmp_path: Path) -> None:
    """The senders poll only every 30 s here, yet the ``sent`` webhook arrives within seconds: serve wakes
    them through their standard input when it queues webhooks."""
    senders = serve_with_senders(tmp_path, 1, poll_interval="30", idle_poll_max="30")
    with senders as (server, created, _seen), Receiver() as receiver, server.client(created["secret"]) as api:
        hook = api.post("/v1/webhooks", json={"url": receiver.url, "events": ["message.status"]})
        assert hook.status_code == 201, hook.text
        # Let the sender's first (30 s) idle wait begin, so only a nudge can end it in time.
        time.sleep(1.0)
        (mid,) = send(api, DELIVERED)
        wait_for(
            lambda: "sent" in statuses(receiver, mid),
            timeout=10,
            describe=lambda: statuses(receiver, mid),
        )


@pytest.mark.e2e
def test_senders_stop_when_serve_is_killed_outright(tmp_path: Path) -> None:
    """SIGKILL leaves serve no chance to stop its senders; the end of their stdin pipe tells them."""
    with serve_with_senders(tmp_path, 2) as (server, _created, seen):
        assert server.proc is not None
        server.proc.kill()
        server.proc.wait(10)
        wait_for(
            lambda: not any(is_sender(pid) for pid in seen),
            timeout=15,
            describe=lambda: {pid: _cmdline(pid) for pid in seen if is_sender(pid)},
        )
