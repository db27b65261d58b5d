"""A closed-loop HTTP/1.1 load generator for ``send_rate.py``.

``concurrency`` keep-alive connections each send one request, wait for the whole answer, and send the
next (no pipelining), spread over ``procs`` worker processes. Every worker waits for a common start
time, so the warm-up (excluded from the numbers) and the measured window line up across processes;
at the deadline no new request is sent, the ones in flight are drained and counted in the totals (so
the database check can compare every accepted recipient), not in the window.

Two clients:

* ``raw`` (default): an :class:`asyncio.Protocol` per connection writing pre-built request bytes and
  parsing only the status line and ``content-length``. It costs a few microseconds of CPU per request,
  so on a 2-core machine the server, not the generator, is what gets measured.
* ``httpx``: ``httpx.AsyncClient.post`` per request. Kept to show how much a full client costs: it
  needs several times the raw client's CPU per request and caps the baseline well below the server's
  capacity, which would make the ratios meaningless.

The parent process samples CPU time of the server, of the generator's processes and of the whole
machine from ``/proc`` during the measured window.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import signal
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any, Literal, cast

import httpx

ClientKind = Literal["raw", "httpx"]
#: Counted in each 2xx answer: textgate returns one message view per accepted recipient.
RECIPIENT_MARK = b'"id":"msg_'
CLK_TCK = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Target:
    """What to send: ``bodies`` are cycled, each connection starting at a different one."""

    host: str
    port: int
    path: str
    headers: dict[str, str]
    bodies: Sequence[bytes]

    def raw_requests(self) -> list[bytes]:
        head = f"POST {self.path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in self.headers.items())
        return [
            (head + f"Content-Length: {len(body)}\r\n\r\n").encode("latin-1") + body for body in self.bodies
        ]


@dataclass(frozen=True)
class Plan:
    """One worker process's share of a run. Times are ``time.monotonic()`` (system-wide on Linux)."""

    start: float
    warm: float
    deadline: float
    connections: int
    max_requests: int
    first_body: int
    client: ClientKind
    drain_timeout: float = 30.0


@dataclass
class WorkerResult:
    issued: int = 0
    #: Whole run (warm-up, window and drain): what the server should have stored.
    ok: int = 0
    recipients: int = 0
    errors: int = 0
    unfinished: int = 0
    #: Responses completed inside [warm, deadline).
    window_ok: int = 0
    window_recipients: int = 0
    window_errors: int = 0
    last_done: float = 0.0
    latencies_us: list[int] = field(default_factory=list)
    error_kinds: Counter[str] = field(default_factory=Counter)


class _Recorder:
    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.result = WorkerResult()

    def may_send(self, now: float) -> bool:
        return now < self.plan.deadline and self.result.issued < self.plan.max_requests

    def response(self, sent: float, done: float, status: int, body: bytes) -> None:
        r = self.result
        r.last_done = max(r.last_done, done)
        in_window = self.plan.warm <= done < self.plan.deadline
        if 200 <= status < 300:
            n = body.count(RECIPIENT_MARK)
            r.ok += 1
            r.recipients += n
            if in_window:
                r.window_ok += 1
                r.window_recipients += n
                r.latencies_us.append(int((done - sent) * 1e6))
            return
        self.error(done, f"HTTP {status}: {body[:200].decode('utf-8', 'replace')}")

    def error(self, done: float, kind: str) -> None:
        r = self.result
        r.errors += 1
        r.error_kinds[kind] += 1
        if self.plan.warm <= done < self.plan.deadline:
            r.window_errors += 1


class _RawConnection(asyncio.Protocol):
    """One keep-alive connection, one request in flight at a time."""

    def __init__(self, rec: _Recorder, requests: Sequence[bytes], first: int) -> None:
        self._rec = rec
        self._requests = requests
        self._next_index = first
        self._buf = bytearray()
        self._body_at = -1
        self._end_at = -1
        self._status = 0
        self._sent_at = 0.0
        self._in_flight = False
        self._transport: asyncio.Transport | None = None
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's transports don't subclass it

    def begin(self) -> None:
        self._send_next()

    def abort(self) -> None:
        if self._transport is not None:
            self._transport.abort()

    def _send_next(self) -> None:
        now = time.monotonic()
        assert self._transport is not None
        if not self._rec.may_send(now):
            self._transport.close()
            return
        request = self._requests[self._next_index % len(self._requests)]
        self._next_index += 1
        self._rec.result.issued += 1
        self._in_flight = True
        self._sent_at = now
        self._transport.write(request)

    def data_received(self, data: bytes) -> None:
        buf = self._buf
        buf += data
        if self._end_at < 0:
            head_end = buf.find(b"\r\n\r\n")
            if head_end < 0:
                return
            head = bytes(buf[:head_end]).lower()
            at = head.find(b"\r\ncontent-length:")
            if at < 0:  # the servers under test always send a length; anything else is a failure
                self._fail("response without content-length")
                return
            line_end = head.find(b"\r\n", at + 2)
            length = int(head[at + 17 : line_end if line_end >= 0 else len(head)])
            self._status = int(head[9:12])
            self._body_at = head_end + 4
            self._end_at = self._body_at + length
        if len(buf) < self._end_at:
            return
        body = bytes(buf[self._body_at : self._end_at])
        del buf[: self._end_at]
        self._end_at = -1
        self._in_flight = False
        self._rec.response(self._sent_at, time.monotonic(), self._status, body)
        self._send_next()

    def _fail(self, kind: str) -> None:
        self._in_flight = False
        self._rec.error(time.monotonic(), kind)
        if self._transport is not None:
            self._transport.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._in_flight:
            self._in_flight = False
            self._rec.error(time.monotonic(), f"connection lost: {exc!r}")
        if not self.closed.done():
            self.closed.set_result(None)


async def _sleep_until(t: float) -> None:
    await asyncio.sleep(max(0.0, t - time.monotonic()))


async def _run_raw(target: Target, plan: Plan, rec: _Recorder) -> None:
    loop = asyncio.get_running_loop()
    requests = target.raw_requests()
    conns: list[_RawConnection] = []
    for i in range(plan.connections):
        first = (plan.first_body + i) * 7919  # spread the connections over the body pool
        _, proto = await loop.create_connection(
            lambda first=first: _RawConnection(rec, requests, first),  # type: ignore[misc]
            target.host,
            target.port,
        )
        conns.append(proto)
    await _sleep_until(plan.start)
    for conn in conns:
        conn.begin()
    await _sleep_until(plan.deadline)
    _, pending = await asyncio.wait([c.closed for c in conns], timeout=plan.drain_timeout)
    rec.result.unfinished = len(pending)
    for conn in conns:
        conn.abort()


async def _run_httpx(target: Target, plan: Plan, rec: _Recorder) -> None:
    limits = httpx.Limits(max_connections=plan.connections, max_keepalive_connections=plan.connections)
    base_url = f"http://{target.host}:{target.port}"
    async with httpx.AsyncClient(
        base_url=base_url, headers=target.headers, limits=limits, timeout=60.0
    ) as client:

        async def slot(i: int) -> None:
            k = (plan.first_body + i) * 7919
            while rec.may_send(time.monotonic()):
                body = target.bodies[k % len(target.bodies)]
                k += 1
                rec.result.issued += 1
                sent = time.monotonic()
                try:
                    resp = await client.post(target.path, content=body)
                except httpx.HTTPError as exc:
                    rec.error(time.monotonic(), type(exc).__name__)
                    continue
                rec.response(sent, time.monotonic(), resp.status_code, resp.content)

        await _sleep_until(plan.start)
        tasks = [asyncio.create_task(slot(i)) for i in range(plan.connections)]
        await _sleep_until(plan.deadline)
        _, pending = await asyncio.wait(tasks, timeout=plan.drain_timeout)
        rec.result.unfinished = len(pending)
        for task in pending:
            task.cancel()


def _worker(target: Target, plan: Plan, out: Connection) -> None:
    rec = _Recorder(plan)
    runner = _run_raw if plan.client == "raw" else _run_httpx
    try:
        import uvloop

        uvloop.run(runner(target, plan, rec))
    except ImportError:
        asyncio.run(runner(target, plan, rec))
    out.send(rec.result)
    out.close()


# -- CPU accounting ----------------------------------------------------------------------------------
def proc_cpu_seconds(pid: int, tid: int | None = None) -> float:
    """User + system CPU seconds of a process (all its threads) or of one of its threads, from /proc."""
    path = f"/proc/{pid}/stat" if tid is None else f"/proc/{pid}/task/{tid}/stat"
    with open(path, "rb") as fh:
        fields = fh.read().rsplit(b")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def machine_cpu() -> tuple[float, float]:
    """(busy, total) jiffies over all cores since boot, from ``/proc/stat``."""
    with open("/proc/stat", "rb") as fh:
        values = [int(v) for v in fh.readline().split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    total = sum(values[:8])  # guest time is already counted in user
    return total - idle, total


@dataclass(frozen=True)
class _Sample:
    t: float
    server: float
    server_main: float
    client: float
    busy: float
    total: float


@dataclass(frozen=True)
class CpuUsage:
    server: float
    server_main: float
    client: float
    machine: float


class CpuSampler:
    """Samples CPU use of the server, the generator's processes and the machine every ``interval``."""

    def __init__(self, server_pid: int, client_pids: Sequence[int], interval: float = 0.05) -> None:
        self._server_pid = server_pid
        self._client_pids = list(client_pids)
        self._interval = interval
        self._last_client: dict[int, float] = {}
        self._samples: list[_Sample] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="cpu-sampler", daemon=True)

    def __enter__(self) -> CpuSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _client_seconds(self) -> float:
        for pid in self._client_pids:
            with contextlib.suppress(OSError):  # an exited worker keeps its last reading
                self._last_client[pid] = proc_cpu_seconds(pid)
        return sum(self._last_client.values())

    def _loop(self) -> None:
        server = main = 0.0
        while not self._stop.is_set():
            with contextlib.suppress(OSError):
                server = proc_cpu_seconds(self._server_pid)
                # the main thread's tid is the pid
                main = proc_cpu_seconds(self._server_pid, self._server_pid)
            busy, total = machine_cpu()
            self._samples.append(_Sample(time.monotonic(), server, main, self._client_seconds(), busy, total))
            self._stop.wait(self._interval)

    def usage(self, start: float, end: float) -> CpuUsage:
        """CPU use over [start, end]. Process figures are % of one core; machine busy is % of all cores."""
        inside = [s for s in self._samples if start <= s.t <= end]
        if len(inside) < 2:
            nan = float("nan")
            return CpuUsage(nan, nan, nan, nan)
        a, b = inside[0], inside[-1]
        dt = b.t - a.t
        return CpuUsage(
            server=100.0 * (b.server - a.server) / dt,
            server_main=100.0 * (b.server_main - a.server_main) / dt,
            client=100.0 * (b.client - a.client) / dt,
            machine=100.0 * (b.busy - a.busy) / max(1.0, b.total - a.total),
        )


# -- one run -----------------------------------------------------------------------------------------
@dataclass
class LoadResult:
    client: ClientKind
    connections: int
    procs: int
    window_seconds: float
    ok: int
    recipients: int
    errors: int
    unfinished: int
    window_ok: int
    window_recipients: int
    window_errors: int
    latencies_us: list[int]
    error_kinds: Counter[str]
    cpu: CpuUsage
    capped: bool

    @property
    def server_cpu(self) -> float:
        return self.cpu.server

    @property
    def server_main_cpu(self) -> float:
        return self.cpu.server_main

    @property
    def client_cpu(self) -> float:
        return self.cpu.client

    @property
    def machine_cpu(self) -> float:
        return self.cpu.machine

    @property
    def other_cpu(self) -> float:
        """CPU used by neither the server nor the generator (% of one core): the kernel's loopback
        network work (softirq time is not charged to processes) and any other process on the machine."""
        return max(0.0, self.cpu.machine * (os.cpu_count() or 1) - self.cpu.server - self.cpu.client)

    @property
    def rps(self) -> float:
        return self.window_ok / self.window_seconds

    @property
    def recipients_per_s(self) -> float:
        return self.window_recipients / self.window_seconds

    def percentile_ms(self, q: float) -> float:
        """Nearest-rank percentile of the window's successful requests, in milliseconds."""
        if not self.latencies_us:
            return float("nan")
        ordered = sorted(self.latencies_us)
        rank = max(1, min(len(ordered), round(q / 100.0 * len(ordered) + 0.5)))
        return ordered[rank - 1] / 1000.0


def run_load(
    target: Target,
    *,
    server_pid: int,
    concurrency: int,
    procs: int,
    warmup: float,
    duration: float,
    max_requests: int,
    client: ClientKind = "raw",
    on_window_start: Callable[[], object] | None = None,
) -> LoadResult:
    """Run one closed-loop load against ``target`` and return the window's numbers and the totals."""
    procs = max(1, min(procs, concurrency))
    ctx = multiprocessing.get_context("fork")
    start = time.monotonic() + 0.5 + 0.01 * concurrency  # time for every worker to connect
    warm = start + warmup
    deadline = warm + duration
    workers: list[tuple[multiprocessing.process.BaseProcess, Connection]] = []
    first_body = 0
    for i in range(procs):
        connections = concurrency // procs + (1 if i < concurrency % procs else 0)
        plan = Plan(
            start=start,
            warm=warm,
            deadline=deadline,
            connections=connections,
            max_requests=-(-max_requests // procs),
            first_body=first_body,
            client=client,
        )
        first_body += connections
        receiver, sender = ctx.Pipe(duplex=False)
        proc = ctx.Process(target=_worker, args=(target, plan, sender), name=f"loadgen-{i}", daemon=True)
        proc.start()
        sender.close()
        workers.append((proc, receiver))
    results: list[WorkerResult] = []
    pids = [p.pid for p, _ in workers if p.pid is not None]
    with CpuSampler(server_pid, pids) as sampler:
        time.sleep(max(0.0, warm - time.monotonic()))
        if on_window_start is not None:
            on_window_start()
        for worker, receiver in workers:
            try:
                results.append(receiver.recv())
            except EOFError:
                raise RuntimeError(f"load generator {worker.name} died; see its traceback above") from None
            worker.join()
    window_end = min(deadline, max(r.last_done for r in results))
    kinds: Counter[str] = Counter()
    for r in results:
        kinds.update(r.error_kinds)
    return LoadResult(
        client=client,
        connections=concurrency,
        procs=procs,
        window_seconds=max(1e-9, window_end - warm),
        ok=sum(r.ok for r in results),
        recipients=sum(r.recipients for r in results),
        errors=sum(r.errors for r in results),
        unfinished=sum(r.unfinished for r in results),
        window_ok=sum(r.window_ok for r in results),
        window_recipients=sum(r.window_recipients for r in results),
        window_errors=sum(r.window_errors for r in results),
        latencies_us=[x for r in results for x in r.latencies_us],
        error_kinds=kinds,
        cpu=sampler.usage(warm, window_end),
        capped=any(r.issued >= -(-max_requests // procs) for r in results),
    )


# -- processes -------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def clean_env(**extra: str) -> dict[str, str]:
    """The environment minus any ``TEXTGATE_*`` the caller had, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TEXTGATE_")}
    env.update(extra)
    return env


# -- tiny ASGI receivers the benchmarks run (webhook sinks) ---------------------------------------------
async def read_body(receive: Any) -> bytes:
    """The whole request body an ASGI ``receive`` delivers."""
    chunks = []
    more = True
    while more:
        event = await receive()
        chunks.append(event.get("body", b""))
        more = event.get("more_body", False)
    return b"".join(chunks)


async def answer(send: Any, status: int, body: bytes) -> None:
    # An explicit content-length (also for empty answers): the raw client needs it.
    headers = [(b"content-length", str(len(body)).encode()), (b"content-type", b"application/json")]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def serve_asgi(app: Any, port: int) -> None:
    """Run a bench receiver on 127.0.0.1 as ``serve`` runs (uvloop, httptools), quietly."""
    import uvicorn

    uvicorn.run(
        app,
        host="127.0.0.1",
        port=port,
        loop="uvloop",
        http="httptools",
        lifespan="off",
        access_log=False,
        log_level="warning",
    )


def stop(proc: Any, sig: int = signal.SIGINT) -> None:
    """End a bench subprocess: ``sig``, 20 s, then SIGKILL."""
    import subprocess

    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
