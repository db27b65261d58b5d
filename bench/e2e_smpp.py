"""End to end over SMPP: how many messages per second go from ``POST /v1/messages`` to a verified
``delivered`` webhook, against what each part can do alone?

One run, everything on 127.0.0.1, bounded in count and time:

* **e2e**: the node SMSC peer (``tests/smsc/server.js``; answers every submit_sm at once and pushes a
  ``DELIVRD`` receipt ``--receipt-delay-ms`` later), a webhook receiver process (this file with
  ``receiver``: a bare ASGI app on uvicorn that verifies the Standard Webhooks signature of *every*
  delivery with the ``standardwebhooks`` package and records when each message's ``delivered`` event
  arrived), and ``textgate serve`` on a fresh SQLite file with one ``smpp`` connector and a default route.
  ``--concurrency`` clients post 100-recipient sends until ``--messages`` are accepted (optionally paced
  to ``--rate`` messages/s); then the bench waits until every accepted message's ``delivered`` webhook
  arrived (or nothing moved for ``--stall`` seconds).
* **baselines**, in the same run, because the machine is shared and noisy: (a) the SMSC peer alone,
  driven by a minimal raw-socket SMPP client (submit rate and receipt rate it sustains); (b) the receiver
  alone, driven by ``bench/loadgen.py``'s raw client with signed POSTs; (c) textgate accepting the same
  load with its workers off (``TEXTGATE_RUN_WORKERS=false``).

Figures: accepted msg/s (first to last 202), end-to-end msg/s (delivered webhooks ÷ time from the first
accept to the last webhook), p50/p99 of webhook arrival - accept (both wall-clock, taken on this
machine: the accept time is when the bench read the 202), lost messages, and the ratios to the
baselines. Each message causes two webhooks (``sent``, then ``delivered``; same order key; with
``--final-only`` the endpoint takes final statuses only, one webhook), so the
receiver's POST rate divided by two is the receiver's ceiling in messages/s. The end-to-end part runs
``--repeat`` times (3), each on a fresh database; the median run (by end-to-end rate) is the one compared
with the baselines and the target, since single runs on a shared machine vary a lot.

Exit status 1 if any accepted message did not end ``delivered`` with its webhook, a signature failed to
verify or a request failed.

Run: ``.venv/bin/python bench/e2e_smpp.py [--messages 20000] [--concurrency 4]``
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

if __package__ in (None, ""):  # run as a script: make ``bench`` and ``tests`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.loadgen import (
    CLK_TCK,
    Target,
    answer,
    clean_env,
    free_port,
    machine_cpu,
    proc_cpu_seconds,
    read_body,
    run_load,
    serve_asgi,
    stop,
)

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
SENDER = "+15551230001"
DESTINATIONS = [f"+4474009{n:05d}" for n in range(100_000)]
PER_REQUEST = 100
FINAL = ("delivered", "undelivered", "failed", "expired", "rejected")
TARGET = 2000.0  # the end-to-end target, msg/s, SQLite, this 2-core machine


# -- the webhook receiver (a subprocess: ``e2e_smpp.py receiver --port P --secret S``) -------------------
class ReceiverApp:
    """Bare ASGI: verifies each POST's Standard Webhooks signature, records ``delivered`` arrivals.

    ``GET /_count`` answers how many distinct messages were reported delivered; ``GET /_results`` the
    arrival times (``time.time()``) by message id plus counters.
    """

    def __init__(self, secret: str) -> None:
        from standardwebhooks import Webhook

        self.webhook = Webhook(secret)
        self.delivered: dict[str, float] = {}
        self.counts: Counter[str] = Counter()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        raw = await read_body(receive)
        if scope["method"] == "GET":
            await self._control(scope["path"], send)
            return
        now = time.time()
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        from standardwebhooks import WebhookVerificationError

        try:
            payload = self.webhook.verify(raw, headers)
        except WebhookVerificationError:
            self.counts["bad_signature"] += 1
            await answer(send, 401, b"")
            return
        self.counts["posts"] += 1
        data = payload.get("data", {}) if isinstance(payload, dict) else {}
        status = data.get("status")
        self.counts[f"status:{status}"] += 1
        if status == "delivered":
            mid = str(data.get("id"))
            if mid in self.delivered:
                self.counts["duplicate_delivered"] += 1
            else:
                self.delivered[mid] = now
        await answer(send, 200, b"")

    async def _control(self, path: str, send: Any) -> None:
        if path == "/_count":
            body = json.dumps({"delivered": len(self.delivered), **self.counts}).encode()
        elif path == "/_results":
            body = json.dumps({"delivered": self.delivered, "counts": self.counts}).encode()
        else:
            await answer(send, 404, b"")
            return
        await answer(send, 200, body)


def run_receiver(port: int, secret: str) -> None:
    serve_asgi(ReceiverApp(secret), port)


# -- processes -------------------------------------------------------------------------------------
def wait_http(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 30.0) -> None:
    """Until ``url`` answers below 500 (textgate's /healthz is 503 until the SMPP session is bound)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode}; log: {log}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=1.0).status_code < 500:
                return
        time.sleep(0.1)
    raise RuntimeError(f"{url} not ready after {timeout:.0f} s; log: {log}")


@contextlib.contextmanager
def receiver(workdir: Path, port: int, secret: str) -> Iterator[subprocess.Popen[bytes]]:
    log = workdir / f"receiver-{port}.log"
    cmd = [sys.executable, str(Path(__file__).resolve()), "receiver", "--port", str(port), "--secret", secret]
    with log.open("wb") as fh:
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=fh, stderr=subprocess.STDOUT)
    try:
        wait_http(f"http://127.0.0.1:{port}/_count", proc, log)
        yield proc
    finally:
        stop(proc)


def textgate_cli(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [str(BIN / "textgate"), *args], env=env, cwd=ROOT, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"textgate {' '.join(args)} failed: {done.stderr.strip()}")
    return done.stdout


@dataclass
class Gate:
    proc: subprocess.Popen[bytes]
    port: int
    db: Path
    log: Path
    secret: str
    env: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


CONFIG = """
[[connectors]]
name = "smsc1"
type = "smpp"
host = "127.0.0.1"
port = {port}
system_id = "{system_id}"
password = "{password}"
bind_mode = "{bind_mode}"
binds = {binds}
window = {window}
throughput = 0

[[routes]]
name = "default"
connectors = ["smsc1"]
"""


@contextlib.contextmanager
def textgate(
    workdir: Path, name: str, smpp_port: int, opts: argparse.Namespace, *, workers: bool
) -> Iterator[Gate]:
    from tests.providers.smpp.peer import PASSWORD, SYSTEM_ID

    run_dir = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=workdir))
    db = run_dir / "t.db"
    config = run_dir / "textgate.toml"
    config.write_text(
        CONFIG.format(
            port=smpp_port,
            system_id=SYSTEM_ID,
            password=PASSWORD,
            binds=opts.binds,
            window=opts.window,
            bind_mode=opts.bind_mode,
        )
    )
    env = clean_env(
        TEXTGATE_DATABASE_URL=f"sqlite:///{db}",
        TEXTGATE_CONFIG=str(config),
        TEXTGATE_ALLOW_PRIVATE_URLS="true",
        TEXTGATE_LOG_LEVEL="warning",
        TEXTGATE_RUN_WORKERS="true" if workers else "false",
        TEXTGATE_DISPATCH_BATCH=str(opts.dispatch_batch),
        TEXTGATE_WEBHOOK_PROCESSES=str(opts.webhook_processes),
        TEXTGATE_WEBHOOK_BATCH=str(opts.webhook_batch),
        TEXTGATE_WEBHOOK_CONCURRENCY=str(opts.webhook_concurrency),
    )
    for pair in opts.env:
        key, _, value = pair.partition("=")
        env[key] = value
    account = json.loads(
        textgate_cli(env, "accounts", "create", "bench", "--credits", "1000000000", "--json")
    )
    textgate_cli(env, "numbers", "add", "bench", SENDER)
    port = free_port()
    log = run_dir / "server.log"
    cmd = [str(BIN / "textgate"), "serve", "--host", "127.0.0.1", "--port", str(port)]
    with log.open("wb") as fh:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=fh, stderr=subprocess.STDOUT)
    gate = Gate(proc, port, db, log, account["secret"], env)
    try:
        wait_http(f"{gate.url}/healthz", proc, log)
        if workers:  # healthy only once bound
            deadline = time.monotonic() + 30
            while httpx.get(f"{gate.url}/healthz").status_code != 200:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"textgate never became healthy (SMPP bind?); log: {log}")
                time.sleep(0.1)
        yield gate
    finally:
        stop(proc)


@contextlib.contextmanager
def api_processes(gate: Gate, count: int) -> Iterator[list[Gate]]:
    """``count`` more ``textgate serve`` processes on ``gate``'s database with their workers off: nodes
    that only take the API's requests, while ``gate`` dispatches, takes receipts and sends webhooks."""
    gates: list[Gate] = []
    env = {**gate.env, "TEXTGATE_RUN_WORKERS": "false"}
    try:
        for n in range(count):
            port = free_port()
            log = gate.log.with_name(f"api-{n}.log")
            cmd = [str(BIN / "textgate"), "serve", "--host", "127.0.0.1", "--port", str(port)]
            with log.open("wb") as fh:
                proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=fh, stderr=subprocess.STDOUT)
            gates.append(Gate(proc, port, gate.db, log, gate.secret, env))
            wait_http(f"{gates[-1].url}/healthz", proc, log)
        yield gates
    finally:
        for api in gates:
            stop(api.proc)


def children(pid: int, kind: str) -> list[int]:
    """The child processes of ``pid`` of one kind: ``senders`` (webhook senders) or ``api`` (API processes,
    ``TEXTGATE_API_PROCESSES``)."""
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    found = []
    for child in text.split():
        with contextlib.suppress(OSError):
            api = "--api-fd" in Path(f"/proc/{child}/cmdline").read_text()
            if api == (kind == "api"):
                found.append(int(child))
    return found


# -- CPU accounting ----------------------------------------------------------------------------------
class Cpu:
    """CPU seconds of named processes between ``mark()`` calls (for naming the bottleneck)."""

    def __init__(self, pids: dict[str, int | list[int]]) -> None:
        self.pids = pids
        self.marks: list[tuple[float, dict[str, float]]] = []

    def read(self) -> dict[str, float]:
        busy, total = machine_cpu()
        # The machine's busy jiffies, scaled so that usage() gives % of one core, like the processes.
        out: dict[str, float] = {"machine": busy / CLK_TCK, "_total": total / CLK_TCK / (os.cpu_count() or 1)}
        for name, pids in self.pids.items():
            for pid in [pids] if isinstance(pids, int) else pids:
                with contextlib.suppress(OSError):
                    out[name] = out.get(name, 0.0) + proc_cpu_seconds(pid)
        return out

    def mark(self) -> None:
        self.marks.append((time.monotonic(), self.read()))

    def usage(self) -> dict[str, float]:
        """% of one core per process between the first and the last mark."""
        (t0, a), (t1, b) = self.marks[0], self.marks[-1]
        out = {k: 100.0 * (b[k] - a.get(k, 0.0)) / max(1e-9, t1 - t0) for k in b}
        out.pop("_total", None)
        out["others"] = max(0.0, out["machine"] - sum(v for k, v in out.items() if k != "machine"))
        out["seconds"] = t1 - t0
        return out


# -- load: 100-recipient sends, per-message accept times ---------------------------------------------
@dataclass
class Accepted:
    at: dict[str, float] = field(default_factory=dict)  # message id -> time.time() the 202 was read
    first: float = 0.0
    last: float = 0.0
    requests: int = 0
    errors: Counter[str] = field(default_factory=Counter)

    @property
    def rate(self) -> float:
        return len(self.at) / max(1e-9, self.last - self.first)


def bodies() -> list[bytes]:
    return [
        json.dumps(
            {"from": SENDER, "to": DESTINATIONS[i : i + PER_REQUEST], "body": "e2e bench message"}
        ).encode()
        for i in range(0, len(DESTINATIONS), PER_REQUEST)
    ]


async def offer(urls: list[str], secret: str, messages: int, concurrency: int, rate: float) -> Accepted:
    """``concurrency`` clients post until ``messages`` recipients are accepted; paced to ``rate`` msg/s
    (0: as fast as the server answers). Client ``i`` posts to ``urls[i % len(urls)]``."""
    out = Accepted()
    pool = bodies()
    requests = -(-messages // PER_REQUEST)
    counter = iter(range(requests))
    start = time.monotonic()
    headers = {"Authorization": f"Bearer {secret}", "Content-Type": "application/json"}
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with contextlib.AsyncExitStack() as stack:
        clients = [
            await stack.enter_async_context(
                httpx.AsyncClient(base_url=url, headers=headers, limits=limits, timeout=120)
            )
            for url in urls
        ]

        async def worker(client: httpx.AsyncClient) -> None:
            for n in counter:
                if rate > 0:
                    await asyncio.sleep(max(0.0, start + n * PER_REQUEST / rate - time.monotonic()))
                try:
                    resp = await client.post("/v1/messages", content=pool[n % len(pool)])
                except httpx.HTTPError as exc:
                    out.errors[type(exc).__name__] += 1
                    continue
                now = time.time()
                if resp.status_code != 202:
                    out.errors[f"HTTP {resp.status_code}: {resp.text[:200]}"] += 1
                    continue
                out.requests += 1
                out.first = out.first or now
                out.last = now
                for m in resp.json()["messages"]:
                    out.at[m["id"]] = now

        await asyncio.gather(*(worker(clients[i % len(clients)]) for i in range(concurrency)))
    return out


# -- baseline (a): the SMSC peer alone, driven by a minimal SMPP client ------------------------------
BIND_TRX, SUBMIT_SM, DELIVER_SM, ENQUIRE_LINK, UNBIND = 0x09, 0x04, 0x05, 0x15, 0x06
RESP = 0x80000000


def _pdu(command: int, seq: int, body: bytes = b"", status: int = 0) -> bytes:
    return (
        (16 + len(body)).to_bytes(4, "big")
        + command.to_bytes(4, "big")
        + status.to_bytes(4, "big")
        + seq.to_bytes(4, "big")
        + body
    )


def _cstr(s: str) -> bytes:
    return s.encode("latin-1") + b"\0"


def _submit_body(dest: str) -> bytes:
    text = b"e2e bench message"
    return (
        _cstr("")  # service_type
        + bytes([1, 1])
        + _cstr(SENDER[1:])
        + bytes([1, 1])
        + _cstr(dest[1:])
        + bytes([0, 0, 0])  # esm_class, protocol_id, priority_flag
        + _cstr("")
        + _cstr("")  # schedule_delivery_time, validity_period
        + bytes([1, 0, 0, 0, len(text)])  # registered_delivery, replace, data_coding, default id, length
        + text
    )


class _SmppProbe(asyncio.Protocol):
    """One transceiver session: keeps ``window`` submit_sm in flight, answers every deliver_sm."""

    def __init__(self, shared: dict[str, Any], window: int) -> None:
        self.shared = shared
        self.window = window
        self.buf = bytearray()
        self.seq = 1
        self.in_flight = 0
        self.bound: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        from tests.providers.smpp.peer import PASSWORD, SYSTEM_ID

        self.transport = transport  # type: ignore[assignment]
        body = _cstr(SYSTEM_ID) + _cstr(PASSWORD) + _cstr("") + bytes([0x34, 0, 0]) + _cstr("")
        transport.write(_pdu(BIND_TRX, self._next(), body))  # type: ignore[attr-defined]

    def _next(self) -> int:
        self.seq += 1
        return self.seq

    def pump(self) -> None:
        s = self.shared
        assert self.transport is not None
        out = []
        while self.in_flight < self.window and s["issued"] < s["total"]:
            s["issued"] += 1
            self.in_flight += 1
            out.append(_pdu(SUBMIT_SM, self._next(), _submit_body(DESTINATIONS[s["issued"] % 100_000])))
        if out:
            self.transport.write(b"".join(out))

    def data_received(self, data: bytes) -> None:
        self.buf += data
        replies = []
        while len(self.buf) >= 16:
            length = int.from_bytes(self.buf[:4], "big")
            if len(self.buf) < length:
                break
            command = int.from_bytes(self.buf[4:8], "big")
            status = int.from_bytes(self.buf[8:12], "big")
            seq = int.from_bytes(self.buf[12:16], "big")
            del self.buf[:length]
            s = self.shared
            if command == BIND_TRX | RESP:
                if status:
                    self.bound.set_exception(RuntimeError(f"bind refused: {status:#x}"))
                else:
                    self.bound.set_result(None)
            elif command == SUBMIT_SM | RESP:
                self.in_flight -= 1
                s["resps"] += 1
                s["bad"] += status != 0
                s["last_resp"] = time.monotonic()
            elif command == DELIVER_SM:
                s["receipts"] += 1
                s["last_receipt"] = time.monotonic()
                replies.append(_pdu(DELIVER_SM | RESP, seq, b"\0"))
            elif command == ENQUIRE_LINK:
                replies.append(_pdu(ENQUIRE_LINK | RESP, seq))
        if replies and self.transport is not None:
            self.transport.write(b"".join(replies))
        if self.bound.done():
            self.pump()
            if s["receipts"] >= s["total"] and s["resps"] >= s["total"] and not s["done"].done():
                s["done"].set_result(None)


@dataclass
class SmscAlone:
    messages: int
    submit_rate: float
    receipt_rate: float
    refused: int
    seconds: float


async def smsc_alone(port: int, messages: int, sessions: int, window: int, timeout: float) -> SmscAlone:
    loop = asyncio.get_running_loop()
    shared: dict[str, Any] = {
        "total": messages,
        "issued": 0,
        "resps": 0,
        "receipts": 0,
        "bad": 0,
        "last_resp": 0.0,
        "last_receipt": 0.0,
        "done": loop.create_future(),
    }
    probes = []
    for _ in range(sessions):
        _, probe = await loop.create_connection(lambda: _SmppProbe(shared, window), "127.0.0.1", port)
        probes.append(probe)
    await asyncio.gather(*(p.bound for p in probes))
    start = time.monotonic()
    for p in probes:
        p.pump()
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(shared["done"], timeout)
    for p in probes:
        if p.transport is not None:
            p.transport.write(_pdu(UNBIND, p._next()))
            p.transport.close()
    return SmscAlone(
        messages=shared["resps"],
        submit_rate=shared["resps"] / max(1e-9, shared["last_resp"] - start),
        receipt_rate=shared["receipts"] / max(1e-9, shared["last_receipt"] - start),
        refused=shared["bad"] + (messages - shared["receipts"]),
        seconds=max(shared["last_resp"], shared["last_receipt"]) - start,
    )


# -- baseline (b): the receiver alone ------------------------------------------------------------------
def receiver_alone(workdir: Path, seconds: float, concurrency: int) -> tuple[float, int]:
    """Signed POSTs/s the receiver verifies and records, with the webhook worker's concurrency."""
    from textgate.webhooks.signing import new_secret, sign_headers

    secret = new_secret()
    port = free_port()
    payload = json.dumps(
        {
            "type": "message.status",
            "timestamp": "2026-01-01T00:00:00Z",
            "data": {"id": "msg_baseline", "status": "delivered", "to": DESTINATIONS[0], "from": SENDER},
        }
    )
    import datetime as dt

    headers = sign_headers(secret, "whd_baseline", dt.datetime.now(dt.UTC), payload)
    headers["Content-Type"] = "application/json"
    with receiver(workdir, port, secret) as proc:
        target = Target("127.0.0.1", port, "/hooks", headers, [payload.encode()])
        load = run_load(
            target,
            server_pid=proc.pid,
            concurrency=concurrency,
            procs=1,
            warmup=1.0,
            duration=seconds,
            max_requests=10**9,
        )
        counts = httpx.get(f"http://127.0.0.1:{port}/_count").json()
    return load.rps, load.errors + int(counts.get("bad_signature", 0))


# -- the end-to-end run ----------------------------------------------------------------------------
@dataclass
class E2E:
    accepted: Accepted
    delivered: dict[str, float]
    counts: dict[str, int]
    statuses: dict[str, int]
    webhook_statuses: dict[str, int]
    cpu: dict[str, float]
    log: Path

    @property
    def lost(self) -> list[str]:
        return [m for m in self.accepted.at if m not in self.delivered]

    @property
    def last_webhook(self) -> float:
        return max(self.delivered.values(), default=self.accepted.first)

    @property
    def e2e_rate(self) -> float:
        got = sum(1 for m in self.accepted.at if m in self.delivered)
        return got / max(1e-9, self.last_webhook - self.accepted.first)

    def latency_ms(self, q: float) -> float:
        lat = sorted(self.delivered[m] - t for m, t in self.accepted.at.items() if m in self.delivered)
        if not lat:
            return float("nan")
        return 1000.0 * lat[min(len(lat) - 1, max(0, round(q / 100.0 * len(lat) + 0.5) - 1))]


def db_statuses(db: Path) -> tuple[dict[str, int], dict[str, int]]:
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=60)) as conn:
        msgs = dict(conn.execute("SELECT status, count(*) FROM messages GROUP BY status").fetchall())
        hooks = dict(
            conn.execute("SELECT status, count(*) FROM webhook_deliveries GROUP BY status").fetchall()
        )
    return msgs, hooks


def run_e2e(workdir: Path, smsc: Any, opts: argparse.Namespace, name: str = "e2e") -> E2E:
    httpx.post(f"http://127.0.0.1:{smsc.control_port}/reset", json={}).raise_for_status()
    rule = {"receipt": "DELIVRD", "receipt_delay_ms": opts.receipt_delay_ms}
    httpx.post(f"http://127.0.0.1:{smsc.control_port}/rules", json={"default": rule}).raise_for_status()
    rport = free_port()
    with textgate(workdir, name, smsc.smpp_port, opts, workers=True) as gate:
        hook = httpx.post(
            f"{gate.url}/v1/webhooks",
            headers={"Authorization": f"Bearer {gate.secret}"},
            json={
                "url": f"http://127.0.0.1:{rport}/hooks",
                "events": ["message.status"],
                **({"statuses": list(FINAL)} if opts.final_only else {}),
            },
        )
        hook.raise_for_status()
        with (
            receiver(workdir, rport, hook.json()["secret"]) as rproc,
            api_processes(gate, opts.api_processes) as apis,
        ):
            api_pids = [a.proc.pid for a in apis] + children(gate.proc.pid, "api")
            sender_pids = children(gate.proc.pid, "senders")
            pids: dict[str, int | list[int]] = {"textgate": gate.proc.pid}
            pids.update({"api": api_pids} if api_pids else {})
            pids.update(smsc=smsc.proc.pid, receiver=rproc.pid, bench=os.getpid())
            pids.update({"senders": sender_pids} if sender_pids else {})
            cpu = Cpu(pids)
            cpu.mark()
            sampler_stop = threading.Event()

            def sample() -> None:  # keeps the last reading of every process inside the window
                while not sampler_stop.wait(0.5):
                    cpu.mark()

            threading.Thread(target=sample, daemon=True).start()
            spy = start_profile(gate, workdir) if opts.profile else None
            urls = [a.url for a in apis] or [gate.url]
            accepted = asyncio.run(offer(urls, gate.secret, opts.messages, opts.concurrency, opts.rate))
            print(
                f"  accepted {len(accepted.at)} messages in {accepted.last - accepted.first:.1f} s; "
                "waiting for delivered webhooks..."
            )
            count_url = f"http://127.0.0.1:{rport}/_count"
            last, moved, deadline = -1, time.monotonic(), time.monotonic() + opts.timeout
            while time.monotonic() < deadline:
                got = httpx.get(count_url).json()["delivered"]
                if got >= len(accepted.at):
                    break
                if got != last:
                    last, moved = got, time.monotonic()
                elif time.monotonic() - moved > opts.stall:
                    print(f"  no progress for {opts.stall:.0f} s at {got} delivered; giving up")
                    break
                time.sleep(0.2)
            sampler_stop.set()
            cpu.mark()
            if spy is not None:
                finish_profile(spy)
            results = httpx.get(f"http://127.0.0.1:{rport}/_results", timeout=60).json()
        time.sleep(1.0)  # let the last webhook outcomes be recorded before reading the database
        statuses, webhook_statuses = db_statuses(gate.db)
        return E2E(
            accepted=accepted,
            delivered=results["delivered"],
            counts=results["counts"],
            statuses=statuses,
            webhook_statuses=webhook_statuses,
            cpu=cpu.usage(),
            log=gate.log,
        )


def start_profile(gate: Gate, workdir: Path) -> tuple[subprocess.Popen[bytes], Path]:
    """py-spy on ``textgate serve`` and its webhook senders (all threads, on-CPU samples) for the rest of
    the e2e run."""
    out = workdir / "profile.txt"
    cmd = [
        str(BIN / "py-spy"),
        "record",
        "-p",
        str(gate.proc.pid),
        "-o",
        str(out),
        "-f",
        "raw",
        "-r",
        "200",
    ]
    cmd += ["--threads", "--nonblocking", "--subprocesses"]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL), out


def finish_profile(spy: tuple[subprocess.Popen[bytes], Path]) -> None:
    proc, out = spy
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=60)
    print(f"  profile (py-spy raw, collapsed stacks): {out}")


def run_accept_only(workdir: Path, smsc_port: int, opts: argparse.Namespace) -> Accepted:
    with textgate(workdir, "accept-only", smsc_port, opts, workers=False) as gate:
        return asyncio.run(offer([gate.url], gate.secret, opts.messages, opts.concurrency, 0.0))


# -- main ------------------------------------------------------------------------------------------
@dataclass
class Run:
    rate: float
    accepted_rate: float
    p50: float
    p99: float
    cpu_per_message: float
    lost: int
    failed: bool


def report_e2e(e2e: E2E, opts: argparse.Namespace) -> Run:
    """Print one end-to-end run's figures; return the ones the summary compares."""
    acc = e2e.accepted
    lost = e2e.lost
    print(
        f"  accepted        {len(acc.at):>8} messages, {acc.rate:,.0f} msg/s "
        f"({acc.requests} requests, {sum(acc.errors.values())} failed)"
    )
    print(
        f"  end to end      {len(acc.at) - len(lost):>8} delivered webhooks, {e2e.e2e_rate:,.0f} msg/s "
        f"(first accept -> last webhook {e2e.last_webhook - acc.first:.1f} s)"
    )
    print(
        f"  latency         p50 {e2e.latency_ms(50):,.0f} ms, p99 {e2e.latency_ms(99):,.0f} ms "
        "(delivered webhook arrival - 202 read)"
    )
    print(f"  lost            {len(lost)}")
    print(f"  receiver        {dict(sorted(e2e.counts.items()))}")
    print(f"  messages (db)   {dict(sorted(e2e.statuses.items()))}")
    print(f"  webhooks (db)   {dict(sorted(e2e.webhook_statuses.items()))}")
    cpu = dict(e2e.cpu)
    seconds = cpu.pop("seconds")
    print(
        "  cpu % of a core "
        + ", ".join(f"{k} {v:.0f}" for k, v in cpu.items())
        + f" (whole e2e run, {seconds:.0f} s; machine = all processes, of {os.cpu_count()} cores)"
    )
    delivered = len(acc.at) - len(lost)
    per = 0.0
    if delivered:
        textgate_cpu = cpu["textgate"] + cpu.get("senders", 0.0) + cpu.get("api", 0.0)
        per = textgate_cpu / 100.0 * seconds / delivered * 1000.0
        print(
            f"  textgate cpu    {per:.2f} ms per delivered message (accept, dispatch, receipt, "
            f"{1 if opts.final_only else 2} webhook(s); serve, its webhook sender processes and any API "
            "processes)"
        )
    bad = int(e2e.counts.get("bad_signature", 0))
    if lost:
        print(f"  LOST {len(lost)} messages, e.g. {lost[:5]}; server log: {e2e.log}")
    if acc.errors:
        print(f"  request errors: {dict(acc.errors)}")
    return Run(
        rate=e2e.e2e_rate,
        accepted_rate=acc.rate,
        p50=e2e.latency_ms(50),
        p99=e2e.latency_ms(99),
        cpu_per_message=per,
        lost=len(lost),
        failed=bool(lost) or bad > 0 or bool(acc.errors),
    )


def summarize(runs: list[Run]) -> Run:
    """Print every run's rate and the median run; return the median run (by end-to-end rate)."""
    ordered = sorted(runs, key=lambda r: r.rate)
    median = ordered[(len(ordered) - 1) // 2]
    rates = ", ".join(f"{r.rate:,.0f}" for r in runs)
    print(f"end to end      runs: {rates} msg/s")
    print(
        f"median run      {median.rate:,.0f} msg/s end to end (range {ordered[0].rate:,.0f}-"
        f"{ordered[-1].rate:,.0f}), p50 {median.p50:,.0f} ms, p99 {median.p99:,.0f} ms, "
        f"{median.cpu_per_message:.2f} ms textgate cpu a message, lost {sum(r.lost for r in runs)}"
    )
    return median


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--messages", type=int, default=20_000, help="messages to send (default 20000)")
    p.add_argument("--concurrency", type=int, default=4, help="concurrent API clients (default 4)")
    p.add_argument("--rate", type=float, default=0.0, help="offered msg/s; 0: closed loop (default)")
    p.add_argument(
        "--api-processes",
        type=int,
        default=0,
        help="extra `serve` processes with workers off that take the posts (default 0: one serve does all)",
    )
    p.add_argument("--binds", type=int, default=2, help="SMPP sessions of the connector (default 2)")
    p.add_argument(
        "--bind-mode", default="transceiver", choices=["transceiver", "tx_rx"], help="SMPP bind mode"
    )
    p.add_argument("--window", type=int, default=200, help="submit_sm window per session (default 200)")
    p.add_argument(
        "--final-only",
        action="store_true",
        help="the endpoint takes final statuses only (one webhook a message, not sent + delivered)",
    )
    p.add_argument("--dispatch-batch", type=int, default=1000, help="TEXTGATE_DISPATCH_BATCH (default 1000)")
    p.add_argument(
        "--webhook-processes", type=int, default=1, help="TEXTGATE_WEBHOOK_PROCESSES (default 1; 0: in serve)"
    )
    p.add_argument("--webhook-batch", type=int, default=1000, help="TEXTGATE_WEBHOOK_BATCH (default 1000)")
    p.add_argument(
        "--webhook-concurrency", type=int, default=64, help="TEXTGATE_WEBHOOK_CONCURRENCY (default 64)"
    )
    p.add_argument("--env", action="append", default=[], help="extra KEY=VALUE for textgate serve")
    p.add_argument("--receipt-delay-ms", type=int, default=20, help="SMSC receipt delay (default 20)")
    p.add_argument("--timeout", type=float, default=600.0, help="longest wait for the webhooks, s")
    p.add_argument("--stall", type=float, default=30.0, help="give up after this long without progress, s")
    p.add_argument("--baseline-seconds", type=float, default=5.0, help="receiver baseline window, s")
    p.add_argument("--no-baselines", action="store_true", help="only the end-to-end run")
    p.add_argument(
        "--repeat", type=int, default=3, help="end-to-end runs; the median one is compared (default 3)"
    )
    p.add_argument("--profile", action="store_true", help="py-spy serve and its senders during the e2e run")
    p.add_argument("--keep", action="store_true", help="keep the work directory (databases, logs)")
    sub = p.add_subparsers(dest="role")
    r = sub.add_parser("receiver", help="(internal) run the webhook receiver")
    r.add_argument("--port", type=int, required=True)
    r.add_argument("--secret", required=True)
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    opts = parse_args(argv)
    if opts.role == "receiver":
        run_receiver(opts.port, opts.secret)
        return 0
    from tests.providers.smpp.peer import Smsc, ensure_installed

    ensure_installed()
    workdir = Path(tempfile.mkdtemp(prefix="e2e-smpp-"))
    smsc = Smsc()
    smsc.start()
    failed = False
    try:
        print(
            f"{opts.messages} messages, {opts.concurrency} clients x {PER_REQUEST} recipients; "
            f"smpp binds={opts.binds} window={opts.window}; dispatch batch {opts.dispatch_batch}; "
            f"webhook processes {opts.webhook_processes} (batch {opts.webhook_batch}, "
            f"concurrency {opts.webhook_concurrency})"
        )
        base_a = base_b = base_c = None
        if not opts.no_baselines:
            print("(a) SMSC peer alone ...")
            base_a = asyncio.run(smsc_alone(smsc.smpp_port, opts.messages, opts.binds, opts.window, 120.0))
            print(
                f"  submit_sm_resp {base_a.submit_rate:,.0f}/s, receipts {base_a.receipt_rate:,.0f}/s "
                f"({base_a.messages} in {base_a.seconds:.1f} s, {base_a.refused} refused or missing)"
            )
            failed |= base_a.refused > 0
            print("(b) receiver alone ...")
            base_b, errors = receiver_alone(workdir, opts.baseline_seconds, 16)
            print(f"  {base_b:,.0f} signed POSTs/s verified ({errors} errors)")
            failed |= errors > 0
            print("(c) textgate accept-only (workers off) ...")
            base_c = run_accept_only(workdir, smsc.smpp_port, opts)
            print(f"  {base_c.rate:,.0f} msg/s accepted ({sum(base_c.errors.values())} errors)")
            failed |= bool(base_c.errors)
        runs: list[Run] = []
        for n in range(1, opts.repeat + 1):
            print(f"end to end, run {n} of {opts.repeat} ...")
            e2e = run_e2e(workdir, smsc, opts, name=f"e2e{n}")
            run = report_e2e(e2e, opts)
            runs.append(run)
            failed |= run.failed
        print()
        best = summarize(runs)
        if base_a and base_b and base_c:
            rate = best.rate
            print()
            print(f"ratios of the median run ({rate:,.0f} msg/s):")
            smsc_submit, smsc_receipts = base_a.submit_rate, base_a.receipt_rate
            print(f"e2e / SMSC alone (submit)     {rate / smsc_submit:.1%} of {smsc_submit:,.0f}")
            print(f"e2e / SMSC alone (receipts)   {rate / smsc_receipts:.1%} of {smsc_receipts:,.0f}")
            hooks = 1 if opts.final_only else 2
            print(
                f"e2e / receiver alone / {hooks}      {rate / (base_b / hooks):.1%} of {base_b / hooks:,.0f} "
                f"({hooks} webhook(s) per message)"
            )
            print(f"e2e / accept-only             {rate / base_c.rate:.1%} of {base_c.rate:,.0f}")
            print(f"accepted (workers on) / accept-only  {best.accepted_rate / base_c.rate:.1%}")
        met = best.rate >= TARGET and not any(r.lost for r in runs)
        verdict = "met" if met else "NOT met"
        print(f"target {TARGET:,.0f} msg/s end to end (median of {len(runs)} runs): {verdict}")
    finally:
        smsc.kill()
        if opts.keep or failed or opts.profile:
            print(f"work directory kept: {workdir}")
        else:
            import shutil

            shutil.rmtree(workdir, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
