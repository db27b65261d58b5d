"""The webhook worker against a real local HTTP receiver, on SQLite and PostgreSQL.

The clock is a test clock: retries, leases and give-up windows are exercised by moving it, not by
sleeping. Endpoint management (tenancy, validation, delete, replay) is covered here too.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import sqlalchemy as sa
from standardwebhooks import Webhook

from textgate.config import Settings
from textgate.domain.errors import Conflict, NotFound, ValidationError
from textgate.service.accounts import create_account
from textgate.store.schema import webhook_attempts, webhook_deliveries
from textgate.webhooks import endpoints, outbox
from textgate.webhooks.client import WebhookClient
from textgate.workers import webhooks as worker_mod
from textgate.workers.webhooks import Attempt, Outcome, WebhookWorker, retry_delay


@dataclass
class Received:
    headers: dict[str, str]
    body: str
    status: int

    @property
    def id(self) -> str:
        return self.headers["webhook-id"]

    @property
    def key(self) -> str:
        return str(json.loads(self.body)["data"]["key"])


@dataclass
class Receiver:
    """Records every POST; answers 500 while ``failures_left`` > 0, else 204."""

    failures_left: int = 0
    delay: float = 0.0
    requests: list[Received] = field(default_factory=list)
    in_flight: dict[str, int] = field(default_factory=dict)
    max_in_flight_per_key: int = 0
    max_in_flight: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def handle(self, headers: dict[str, str], body: str) -> int:
        key = json.loads(body)["data"]["key"]
        with self.lock:
            self.in_flight[key] = self.in_flight.get(key, 0) + 1
            self.max_in_flight_per_key = max(self.max_in_flight_per_key, self.in_flight[key])
            self.max_in_flight = max(self.max_in_flight, sum(self.in_flight.values()))
        time.sleep(self.delay)
        with self.lock:
            self.in_flight[key] -= 1
            status = 500 if self.failures_left > 0 else 204
            self.failures_left = max(0, self.failures_left - 1)
            self.requests.append(Received(headers, body, status))
        return status


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    rec = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", "0"))).decode()
            status = rec.handle({k.lower(): v for k, v in self.headers.items()}, body)
            self.send_response(status)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *_args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    rec.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield rec
    server.shutdown()
    server.server_close()


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC).replace(microsecond=0)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


SETTINGS = Settings(allow_private_urls=True, lease_seconds=30.0, webhook_timeout=2.0, poll_interval=0.01)


def make_worker(engine: sa.Engine, client: WebhookClient | None, clock: Clock, **kw: Any) -> WebhookWorker:
    settings = kw.pop("settings", SETTINGS)
    return WebhookWorker(engine, settings, client=client, clock=clock, rng=lambda: 1.0, **kw)


def setup(engine: sa.Engine, url: str, clock: Clock, name: str = "acme") -> tuple[str, dict[str, Any]]:
    with engine.begin() as conn:
        account, _key = create_account(conn, name, now=clock())
        ep = endpoints.create_endpoint(
            conn, account.id, url, list(outbox.EVENT_TYPES), now=clock(), allow_private=True
        )
    return account.id, ep


def enqueue(engine: sa.Engine, account_id: str, key: str, clock: Clock, **kw: Any) -> str:
    with engine.begin() as conn:
        assert outbox.enqueue_event(
            conn, account_id, "message.status", {"key": key}, order_key=key, now=clock(), **kw
        )
        return str(
            conn.execute(
                sa.select(webhook_deliveries.c.id).order_by(webhook_deliveries.c.seq.desc())
            ).scalar()
        )


def delivery(engine: sa.Engine, delivery_id: str) -> Any:
    with engine.connect() as conn:
        return conn.execute(sa.select(webhook_deliveries).where(webhook_deliveries.c.id == delivery_id)).one()


def attempts_of(engine: sa.Engine, delivery_id: str) -> list[Any]:
    with engine.connect() as conn:
        q = sa.select(webhook_attempts).where(webhook_attempts.c.delivery_id == delivery_id)
        return list(conn.execute(q.order_by(webhook_attempts.c.id)).all())


def assert_signed(secret: str, req: Received) -> None:
    ts = datetime.fromtimestamp(int(req.headers["webhook-timestamp"]), UTC)
    assert req.headers["webhook-signature"] == Webhook(secret).sign(req.id, ts, req.body)


def collapse(ids: list[str]) -> list[str]:
    return [x for i, x in enumerate(ids) if i == 0 or ids[i - 1] != x]


def run(body: Callable[[WebhookClient], Any]) -> None:
    async def main() -> None:
        client = WebhookClient()
        try:
            await body(client)
        finally:
            await client.close()

    asyncio.run(main())


def test_retry_schedule() -> None:
    assert [retry_delay(n, rng=lambda: 1.0).total_seconds() for n in range(1, 6)] == [5, 10, 20, 40, 80]
    assert retry_delay(40, rng=lambda: 1.0) == timedelta(hours=1)
    assert retry_delay(3, rng=lambda: 0.5) == timedelta(seconds=10)
    assert retry_delay(1, rng=lambda: 0.0) == timedelta(seconds=1)  # floor


def test_signed_ordered_delivery_with_retries(engine: sa.Engine, receiver: Receiver) -> None:
    clock = Clock()
    account_id, ep = setup(engine, receiver.url, clock)
    a1, b1, a2, b2, a3 = (enqueue(engine, account_id, k, clock) for k in "ABABA")
    receiver.failures_left = 2  # the first batch (A1 and B1) fails

    async def body(client: WebhookClient) -> None:
        worker = make_worker(engine, client, clock)
        assert await worker.run_once() == 2  # one per key: A2/B2 wait behind A1/B1
        assert {r.id for r in receiver.requests} == {a1, b1}
        for d in (a1, b1):
            row = delivery(engine, d)
            assert (row.status, row.attempts, row.last_status_code) == ("pending", 1, 500)
            # The receiver answered 500: they wait for its next probe (2 s), not each on its own backoff.
            assert row.due_at == clock.now + timedelta(seconds=worker_mod.PROBE_BASE_SECONDS)
        assert await worker.run_once() == 0  # A2 is due but must wait for A1
        clock.advance(5)
        # The endpoint failed: one delivery probes it (A1, the oldest); once it answers 2xx, the rest
        # that waited go at once, each key still in order.
        assert await worker.run_once() == 1
        assert await worker.run_once() == 2
        assert await worker.run_once() == 2
        assert await worker.run_once() == 0

    run(body)
    by_key = {k: collapse([r.id for r in receiver.requests if r.key == k]) for k in "AB"}
    assert by_key == {"A": [a1, a2, a3], "B": [b1, b2]}
    assert [r.status for r in receiver.requests[:2]] == [500, 500]
    for req in receiver.requests:
        assert Webhook(ep["secret"]).verify(req.body, req.headers) == json.loads(req.body)
        assert req.headers["content-type"] == "application/json"
    for d in (a1, b1, a2, b2, a3):
        row = delivery(engine, d)
        tries = attempts_of(engine, d)
        assert row.status == "succeeded" and row.delivered_at is not None and row.due_at is None
        assert row.attempts == len(tries) == len([r for r in receiver.requests if r.id == d])
        assert all(t.duration_ms >= 0 for t in tries)
        assert tries[-1].status_code == 204 and tries[-1].error is None
        assert next(r.body for r in receiver.requests if r.id == d) == row.payload
    assert [(t.status_code, t.error) for t in attempts_of(engine, a1)] == [(500, "HTTP 500"), (204, None)]


def test_backoff_give_up_then_next_in_order_then_replay(engine: sa.Engine, receiver: Receiver) -> None:
    clock = Clock()
    account_id, ep = setup(engine, receiver.url, clock)
    first = enqueue(engine, account_id, "A", clock, retry_window=timedelta(minutes=2))
    second = enqueue(engine, account_id, "A", clock)
    receiver.failures_left = 1000

    async def body(client: WebhookClient) -> None:
        worker = make_worker(engine, client, clock)
        delays = []
        while delivery(engine, first).status == "pending":
            assert await worker.run_once() == 1
            row = delivery(engine, first)
            if row.status == "pending":
                delays.append((row.due_at - clock.now).total_seconds())
                clock.advance(delays[-1])
        # A receiver answering 500 is down as a whole: probed every 2 s doubling up to 30 s; 120 s later
        # the 2 min window is over and the 8th failure gives up.
        assert delays == [2, 4, 8, 16, 30, 30, 30]
        row = delivery(engine, first)
        assert (row.status, row.due_at, row.attempts, row.last_error) == ("failed", None, 8, "HTTP 500")
        assert len(attempts_of(engine, first)) == 8
        assert {r.id for r in receiver.requests} == {first}  # the second waited throughout

        receiver.failures_left = 0
        assert await worker.run_once() == 0  # the endpoint is failing: the next probe is due later
        clock.advance(worker_mod.PROBE_CAP_SECONDS)
        assert await worker.run_once() == 1  # given up: the next event of the key goes out
        assert delivery(engine, second).status == "succeeded"

        with engine.begin() as conn:
            replayed = endpoints.replay_delivery(conn, account_id, first, clock.now)
        assert replayed["status"] == "pending" and replayed["attempt_count"] == 0
        assert len(replayed["attempts"]) == 8
        assert await worker.run_once() == 1
        row = delivery(engine, first)
        assert row.status == "succeeded" and row.give_up_at == clock.now + outbox.DEFAULT_RETRY_WINDOW
        assert len(attempts_of(engine, first)) == 9

        with engine.begin() as conn:  # a succeeded one can be replayed too
            endpoints.replay_delivery(conn, account_id, second, clock.now)
            with pytest.raises(Conflict):
                endpoints.replay_delivery(conn, account_id, second, clock.now)
        assert await worker.run_once() == 1

    run(body)
    assert [r.id for r in receiver.requests][-3:] == [second, first, second]
    for req in receiver.requests:
        assert_signed(ep["secret"], req)


def test_expired_lease_is_reclaimed_and_stale_worker_is_fenced(engine: sa.Engine, receiver: Receiver) -> None:
    clock = Clock()
    account_id, _ep = setup(engine, receiver.url, clock)
    d = enqueue(engine, account_id, "A", clock)

    async def body(client: WebhookClient) -> None:
        dead = make_worker(engine, client, clock, worker_id="dead")
        other = make_worker(engine, client, clock, worker_id="other")
        (claim,) = dead._claim(clock.now)  # claims, then "dies" without sending
        assert claim.id == d
        assert await other.run_once() == 0  # leased
        clock.advance(SETTINGS.lease_seconds - 1)
        assert await other.run_once() == 0
        clock.advance(2)
        assert await other.run_once() == 1
        assert delivery(engine, d).status == "succeeded"
        # The stale worker's late outcome must not overwrite the newer result.
        late = Attempt(claim, Outcome(False, 500, "HTTP 500", "http_error"), clock.now, 1)
        assert dead._finish([late]) == 0
        assert delivery(engine, d).status == "succeeded"

    run(body)
    assert [r.id for r in receiver.requests] == [d]


def test_concurrent_claims_do_not_overlap(engine: sa.Engine, receiver: Receiver) -> None:
    clock = Clock()
    account_id, _ep = setup(engine, receiver.url, clock)
    ids = [enqueue(engine, account_id, f"K{i}", clock) for i in range(40)]
    workers = [make_worker(engine, None, clock, batch_size=7) for _ in range(4)]  # claims only: no HTTP
    claimed: list[list[str]] = [[] for _ in workers]

    def claim_all(i: int) -> None:
        while batch := workers[i]._claim(clock.now):
            claimed[i].extend(c.id for c in batch)

    threads = [threading.Thread(target=claim_all, args=(i,)) for i in range(len(workers))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    every = [x for c in claimed for x in c]
    assert sorted(every) == sorted(ids)  # each exactly once


def test_batch_is_concurrent_but_one_per_key(engine: sa.Engine, receiver: Receiver) -> None:
    clock = Clock()
    account_id, _ep = setup(engine, receiver.url, clock)
    for i in range(6):
        for _ in range(3):
            enqueue(engine, account_id, f"K{i}", clock)
    receiver.delay = 0.1

    async def body(client: WebhookClient) -> None:
        worker = make_worker(engine, client, clock, concurrency=4)
        while await worker.run_once():
            pass

    run(body)
    assert len(receiver.requests) == 18
    assert receiver.max_in_flight > 1
    assert receiver.max_in_flight <= 4
    assert receiver.max_in_flight_per_key == 1


def test_deleted_endpoint_fails_pending(engine: sa.Engine, receiver: Receiver) -> None:
    clock = Clock()
    account_id, ep = setup(engine, receiver.url, clock)
    ids = [enqueue(engine, account_id, "A", clock) for _ in range(2)]
    with engine.begin() as conn:
        endpoints.delete_endpoint(conn, account_id, ep["id"], clock.now)
        assert endpoints.list_endpoints(conn, account_id) == []
        # Nothing new is queued for a deleted endpoint.
        assert outbox.enqueue_event(conn, account_id, "message.status", {}, order_key="A", now=clock()) == 0
        with pytest.raises(NotFound):
            endpoints.get_endpoint(conn, account_id, ep["id"])
        with pytest.raises(NotFound):
            endpoints.delete_endpoint(conn, account_id, ep["id"], clock.now)
        with pytest.raises(Conflict):
            endpoints.replay_delivery(conn, account_id, ids[0], clock.now)
    for d in ids:
        row = delivery(engine, d)
        assert (row.status, row.last_error, row.due_at) == ("failed", "endpoint deleted", None)

    async def body(client: WebhookClient) -> None:
        assert await make_worker(engine, client, clock).run_once() == 0

    run(body)
    assert receiver.requests == []


def test_send_time_url_check_and_transport_errors(engine: sa.Engine, receiver: Receiver) -> None:
    clock = Clock()
    account_id, _ep = setup(engine, receiver.url, clock)
    private = enqueue(engine, account_id, "A", clock)
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]
    with engine.begin() as conn:
        other_id = create_account(conn, "other", now=clock())[0].id
        endpoints.create_endpoint(
            conn,
            other_id,
            f"http://127.0.0.1:{closed_port}/x",
            ["message.status"],
            now=clock(),
            allow_private=True,
        )
    refused = enqueue(engine, other_id, "B", clock)

    async def body(client: WebhookClient) -> None:
        strict = make_worker(
            engine, client, clock, settings=SETTINGS.model_copy(update={"allow_private_urls": False})
        )
        assert await strict.run_once() == 2

    run(body)
    assert receiver.requests == []  # the loopback receiver was never contacted
    (a,) = attempts_of(engine, private)
    assert a.status_code is None and a.error.startswith("URL refused") and "non-public" in a.error
    (b,) = attempts_of(engine, refused)
    assert b.status_code is None and b.error.startswith("URL refused")
    for d in (private, refused):
        row = delivery(engine, d)
        assert row.status == "pending" and row.due_at == clock.now + timedelta(seconds=5)

    clock.advance(5)

    async def body2(client: WebhookClient) -> None:
        assert await make_worker(engine, client, clock).run_once() == 2

    run(body2)
    assert [r.id for r in receiver.requests] == [private]
    assert attempts_of(engine, refused)[-1].error.startswith("connection failed")


def test_timeout_is_a_failed_attempt(engine: sa.Engine, receiver: Receiver) -> None:
    clock = Clock()
    account_id, _ep = setup(engine, receiver.url, clock)
    d = enqueue(engine, account_id, "A", clock)
    receiver.delay = 1.0

    async def body(client: WebhookClient) -> None:
        settings = SETTINGS.model_copy(update={"webhook_timeout": 0.2})
        assert await make_worker(engine, client, clock, settings=settings).run_once() == 1

    run(body)
    (a,) = attempts_of(engine, d)
    assert a.status_code is None and a.error.startswith("timed out") and a.duration_ms >= 150
    assert delivery(engine, d).status == "pending"


def test_run_loop_survives_errors_and_stops(
    engine: sa.Engine, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(worker_mod, "ERROR_PAUSE_SECONDS", 0.01)
    account_id, _ep = setup(engine, receiver.url, Clock())
    d = enqueue(engine, account_id, "A", Clock())

    async def body(client: WebhookClient) -> None:
        worker = WebhookWorker(engine, SETTINGS, client=client)
        real_claim = worker._claim
        calls = {"n": 0}

        def flaky_claim(now: datetime) -> Any:
            calls["n"] += 1
            if calls["n"] <= 2:
                raise RuntimeError("database hiccup")
            return real_claim(now)

        worker._claim = flaky_claim  # type: ignore[method-assign]
        stop = asyncio.Event()
        task = asyncio.create_task(worker.run(stop))
        for _ in range(500):
            if receiver.requests:
                break
            await asyncio.sleep(0.01)
        stop.set()
        await asyncio.wait_for(task, timeout=5)
        assert calls["n"] > 2

    run(body)
    assert [r.id for r in receiver.requests] == [d]
    assert delivery(engine, d).status == "succeeded"


def test_endpoint_validation_and_tenancy(engine: sa.Engine) -> None:
    clock = Clock()
    url = "https://93.184.216.34/hook"
    with engine.begin() as conn:
        acme = create_account(conn, "acme", now=clock())[0].id
        evil = create_account(conn, "evil", now=clock())[0].id
        for events in ([], ["message.nope"], "message.status"):
            with pytest.raises(ValidationError) as info:
                endpoints.create_endpoint(conn, acme, url, events, now=clock(), allow_private=False)
            assert info.value.field == "events"
        for bad in ("ftp://93.184.216.34/", "http://127.0.0.1/", "https://u:p@93.184.216.34/"):
            with pytest.raises(ValidationError) as info:
                endpoints.create_endpoint(
                    conn, acme, bad, ["message.status"], now=clock(), allow_private=False
                )
            assert info.value.field == "url"
        ep = endpoints.create_endpoint(
            conn,
            acme,
            url,
            ["message.received", "message.status", "message.status"],
            now=clock(),
            allow_private=False,
        )
        assert ep["id"].startswith("wh_") and ep["secret"].startswith("whsec_")
        assert ep["events"] == ["message.status", "message.received"] and ep["url"] == url
        assert endpoints.get_endpoint(conn, acme, ep["id"]) == ep
        assert endpoints.list_endpoints(conn, acme) == [{k: v for k, v in ep.items() if k != "secret"}]
        assert endpoints.list_endpoints(conn, evil) == []
        outbox.enqueue_event(conn, acme, "message.status", {"key": "A"}, order_key="A", now=clock())
        (listed,) = endpoints.list_deliveries(conn, acme, ep["id"], 10)
        assert listed["status"] == "pending" and listed["payload"]["data"] == {"key": "A"}
        assert listed["attempts"] == []
        conn.execute(
            sa.update(webhook_deliveries)
            .where(webhook_deliveries.c.id == listed["id"])
            .values(status="failed")
        )
        for call in (
            lambda: endpoints.get_endpoint(conn, evil, ep["id"]),
            lambda: endpoints.delete_endpoint(conn, evil, ep["id"], clock.now),
            lambda: endpoints.list_deliveries(conn, evil, ep["id"], 10),
            lambda: endpoints.replay_delivery(conn, evil, listed["id"], clock.now),
            lambda: endpoints.get_endpoint(conn, acme, "wh_missing"),
        ):
            with pytest.raises(NotFound):
                call()
        with pytest.raises(ValidationError):
            endpoints.list_deliveries(conn, acme, ep["id"], 0)
        assert endpoints.replay_delivery(conn, acme, listed["id"], clock.now)["status"] == "pending"


def serve_receiver(rec: Receiver, port: int) -> ThreadingHTTPServer:
    """Start answering on ``port`` for ``rec`` (what the receiver fixture does, on a chosen port)."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", "0"))).decode()
            status = rec.handle({k.lower(): v for k, v in self.headers.items()}, body)
            self.send_response(status)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *_args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def test_a_receiver_down_for_three_minutes_is_caught_up_within_a_probe_interval(engine: sa.Engine) -> None:
    """The receiver refuses connections for 180 s while events keep coming (a clock moved by hand, one
    worker pass a second): it is probed, not hammered, and once it listens again everything that waited
    goes at once - within PROBE_CAP_SECONDS - with each message's events in order."""
    clock = Clock()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    rec = Receiver(port=port)
    account_id, _ep = setup(engine, rec.url, clock)
    ids: dict[str, list[str]] = {}
    server: ThreadingHTTPServer | None = None

    async def body(client: WebhookClient) -> None:
        nonlocal server
        worker = make_worker(engine, client, clock, batch_size=500, concurrency=16)
        tries = 0
        for second in range(180):
            if second % 10 == 0:  # ten messages' status events every ten seconds
                for n in range(10):
                    key = f"m{second // 10}-{n}"
                    ids.setdefault(key, []).append(enqueue(engine, account_id, key, clock))
                    if second % 30 == 0:
                        ids[key].append(enqueue(engine, account_id, key, clock))  # and a second event
            tries += await worker.run_once()
            clock.advance(1)
        assert tries <= 30, tries  # a probe every few seconds, not every delivery on its own backoff
        server = serve_receiver(rec, port)  # back
        waited = 0
        while not all(delivery(engine, d).status == "succeeded" for each in ids.values() for d in each):
            while await worker.run_once():
                pass
            clock.advance(1)
            waited += 1
            assert waited <= worker_mod.PROBE_CAP_SECONDS + 1, "not caught up within a probe interval"

    try:
        run(body)
    finally:
        if server is not None:
            server.shutdown()
            server.server_close()
    by_key: dict[str, list[str]] = {}
    for req in rec.requests:
        by_key.setdefault(req.key, []).append(req.id)
    assert {k: collapse(v) for k, v in by_key.items()} == ids  # every one, in order per message


def test_the_sender_connects_to_the_address_the_guard_checked(
    engine: sa.Engine, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With private addresses refused, the URL's name is checked and the POST goes to the checked address
    - here the name (``hooks.invalid``) resolves to nothing, so only the pinned address reaches the
    receiver. A second resolution at connect time is what DNS rebinding exploits."""
    clock = Clock()
    port = int(receiver.url.rsplit(":", 1)[1].split("/")[0])
    account_id, _ep = setup(engine, f"http://hooks.invalid:{port}/hooks", clock)
    checked: list[str] = []

    async def guard(url: str, allow_private: bool, *, field: str = "url") -> list[str]:
        checked.append(url)
        return ["127.0.0.1"]  # what the (public-only) check found and approved

    monkeypatch.setattr(worker_mod, "check_url_at_send", guard)
    did = enqueue(engine, account_id, "k1", clock)
    strict = Settings(allow_private_urls=False, webhook_timeout=2.0, poll_interval=0.01)

    async def body(client: WebhookClient) -> None:
        await make_worker(engine, client, clock, settings=strict).run_once()

    run(body)
    assert checked == [f"http://hooks.invalid:{port}/hooks"]
    assert delivery(engine, did).status == "succeeded"
    assert [r.key for r in receiver.requests] == ["k1"]
