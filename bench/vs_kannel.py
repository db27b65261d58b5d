"""Single-recipient traffic beside Kannel, in one run: how does ``textgate serve`` compare with the gateway
users would pick instead?

Every target gets exactly the same workload, one after another in one invocation, against the same SMSC
peer and the same callback sink, all on 127.0.0.1:

* **load**: ``wrk`` (Debian's package), ``--connections`` (32) keep-alive connections on 2 threads,
  ``--requests`` (5,000) requests, one recipient each, every destination different;
* **SMSC**: the node peer (``tests/smsc/server.js``, npm ``smpp``), one transceiver bind with window 10,
  answering every ``submit_sm`` at once and sending the ``DELIVRD`` receipt ``--receipt-delay-ms`` (50)
  later; it counts the distinct submits it took, so a message sent twice shows;
* **callbacks**: one per message, for its final status only (Kannel ``dlr-mask=1`` with a ``dlr-url``;
  textgate a webhook endpoint with ``statuses`` = the final ones), into a bare ASGI sink that records the
  time each message's callback arrived.

Targets (``--targets``): ``kannel`` (Debian's ``kannel`` package: bearerbox + smsbox, ``/cgi-bin/sendsms``,
nothing stored), ``sqlite`` (``textgate serve`` on its defaults: embedded SQLite), ``postgres`` (the same on
a PostgreSQL cluster the bench starts on loopback with PostgreSQL's default durability), ``postgres2``
(two ``serve`` nodes on one PostgreSQL, each with its own bind and its workers; wrk sends half the
requests to each). textgate is posted the native API's ``POST /v1/messages`` with ``{"from", "to",
"body"}``.

Printed per target and invocation: accept req/s (wrk's), p50/p99 ms (wrk's), end-to-end msg/s (messages
÷ first request to last callback), seconds until every callback arrived, CPU ms a message (all of the
target's processes from the first request to the last callback: bearerbox + smsbox; serve and its
children; PostgreSQL's processes included), peak memory (the same processes' PSS, summed: shared pages
counted once), and textgate ÷ Kannel from the same invocation. ``--invocations`` (3) repeats the whole
set with the targets' order rotated; the summary gives min–median–max of every figure over the
invocations. ``--write-docs`` writes it into docs/benchmarks.md between ``<!-- vs-kannel:begin -->``
and ``<!-- vs-kannel:end -->``.

Installs ``kannel`` and ``wrk`` with apt-get when they are missing (root; registries reachable).
Exit status 1 if any target lost a message, sent one twice or answered a request with an error.

Run: ``.venv/bin/python bench/vs_kannel.py [--invocations 3] [--requests 5000] [--write-docs]``
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

if __package__ in (None, ""):  # run as a script: make ``bench`` and ``tests`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.loadgen import answer, clean_env, free_port, proc_cpu_seconds, read_body, serve_asgi, stop
from bench.smpp_soak import TOML as TEXTGATE_CONF

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
DOCS = ROOT / "docs" / "benchmarks.md"
SENDER = "+15551230001"
TEXT = "vs kannel bench message"
FINAL = ("delivered", "undelivered", "failed", "expired", "rejected")
TARGETS = ("kannel", "sqlite", "postgres", "postgres2")


# -- the callback sink (a subprocess: ``vs_kannel.py sink --port P``) ---------------------------------
class Sink:
    """Bare ASGI. ``GET /dlr?id=..&s=..`` (Kannel's dlr-url) and ``POST /hooks`` (textgate's webhook) each
    record one message's final callback; ``GET /_count`` answers {count, last, duplicates, by_status}."""

    def __init__(self) -> None:
        self.at: dict[str, float] = {}
        self.duplicates = 0
        self.by_status: dict[str, int] = {}

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        raw = await read_body(receive)
        path = scope["path"]
        if path == "/_count":
            body = json.dumps(
                {
                    "count": len(self.at),
                    "last": max(self.at.values(), default=0.0),
                    "duplicates": self.duplicates,
                    "by_status": self.by_status,
                }
            ).encode()
            await answer(send, 200, body)
            return
        if path == "/_reset":
            self.__init__()  # type: ignore[misc]
            await answer(send, 200, b"{}")
            return
        now = time.time()
        if path == "/dlr":
            from urllib.parse import parse_qs

            query = parse_qs(scope["query_string"].decode())
            mid, status = query.get("id", [""])[0], {"1": "delivered"}.get(query.get("s", [""])[0], "other")
        else:
            data = json.loads(raw or b"{}").get("data", {})
            mid, status = str(data.get("id")), str(data.get("status"))
        self.by_status[status] = self.by_status.get(status, 0) + 1
        if mid in self.at:
            self.duplicates += 1
        else:
            self.at[mid] = now
        await answer(send, 200, b"")


def run_sink(port: int) -> None:
    serve_asgi(Sink(), port)


# -- tools -----------------------------------------------------------------------------------------
def ensure_tools() -> None:
    """``bearerbox``, ``smsbox`` and ``wrk`` on PATH, installing Debian's packages when missing."""
    if all(shutil.which(t) for t in ("bearerbox", "smsbox", "wrk")):
        return
    if os.geteuid() != 0:
        raise SystemExit("vs_kannel: needs kannel and wrk: apt-get install kannel wrk (as root)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    print("installing kannel and wrk (apt-get)...", flush=True)
    subprocess.run(["apt-get", "update", "-qq"], env=env, check=True, stdout=subprocess.DEVNULL)
    subprocess.run(
        ["apt-get", "install", "-y", "-qq", "kannel", "wrk"], env=env, check=True, stdout=subprocess.DEVNULL
    )
    # The package's init script may have started its own bearerbox on the stock config; ours uses other
    # ports, but it would take CPU.
    subprocess.run(["pkill", "-f", "/etc/kannel/kannel.conf"], check=False)
    if not all(shutil.which(t) for t in ("bearerbox", "smsbox", "wrk")):
        raise SystemExit("vs_kannel: kannel/wrk installed but bearerbox, smsbox or wrk not on PATH")


def kannel_version() -> str:
    done = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", "kannel"], capture_output=True, text=True)
    return done.stdout.strip() or "?"


def wait_until(
    check: Any, what: str, timeout: float = 30.0, proc: subprocess.Popen[bytes] | None = None
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{what}: process exited with {proc.returncode}")
        with contextlib.suppress(httpx.HTTPError, OSError, ValueError, KeyError):
            if check():
                return
        time.sleep(0.1)
    raise RuntimeError(f"{what}: not ready after {timeout:.0f} s")


def spawn(cmd: list[str], log: Path, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    with log.open("wb") as fh:
        return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=fh, stderr=subprocess.STDOUT)


# -- process accounting ----------------------------------------------------------------------------
def descendants(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        with contextlib.suppress(OSError):
            for task in os.listdir(f"/proc/{p}/task"):
                with contextlib.suppress(OSError):
                    todo.extend(int(c) for c in Path(f"/proc/{p}/task/{task}/children").read_text().split())
    return out


def rss_bytes(pid: int) -> int:
    """The process's proportional set size (PSS): its resident memory with pages shared among processes
    (PostgreSQL's shared buffers, a parent's pages in forked children) divided among them, so the sum
    over a target's processes is the memory the target holds, not each shared page counted again."""
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) * 1024
    return 0


class Usage:
    """CPU seconds and peak summed RSS of a target's process trees, sampled every 0.2 s."""

    def __init__(self, roots: list[int]) -> None:
        self.roots = roots
        self.cpu: dict[int, float] = {}  # last reading per pid (a pid that exits keeps its last reading)
        self.start: dict[int, float] = {}
        self.peak_rss = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _read(self) -> None:
        rss = 0
        for root in self.roots:
            for pid in descendants(root):
                with contextlib.suppress(OSError):
                    self.cpu[pid] = proc_cpu_seconds(pid)
                    self.start.setdefault(pid, 0.0)
                rss += rss_bytes(pid)
        self.peak_rss = max(self.peak_rss, rss)

    def begin(self) -> None:
        self._read()
        self.start = dict(self.cpu)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.2):
            self._read()

    def end(self) -> float:
        self._stop.set()
        self._thread.join()
        self._read()
        return sum(self.cpu[p] - self.start.get(p, 0.0) for p in self.cpu)


# -- wrk -------------------------------------------------------------------------------------------
WRK_LUA = r"""
-- one request per destination, each different; stops a thread after its share of the requests
local kind = os.getenv("VS_KIND")
local quota = tonumber(os.getenv("VS_QUOTA"))
local base = tonumber(os.getenv("VS_BASE"))
local secret = os.getenv("VS_SECRET") or ""
local sink = os.getenv("VS_SINK") or ""
local out = os.getenv("VS_OUT")
local threads = {}
local counter = 0

function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end

function init(args)
  sent = 0
  done_count = 0
  if kind ~= "kannel" then
    wrk.method = "POST"
    wrk.headers["Content-Type"] = "application/json"
    wrk.headers["Authorization"] = "Bearer " .. secret
  end
end

local function esc(s)
  return (s:gsub("[^%w%-_%.~]", function(c) return string.format("%%%02X", string.byte(c)) end))
end

function request()
  local n = base + tid * 1000000 + sent  -- threads and wrk runs far apart: no number twice
  sent = sent + 1
  local to = string.format("44740%07d", n)
  if kind == "kannel" then
    local dlr = sink .. "/dlr?id=" .. to .. "&s=%d"
    local path = "/cgi-bin/sendsms?username=bench&password=bench&from=15551230001&to=" .. to ..
      "&text=" .. esc("vs kannel bench message") .. "&dlr-mask=1&dlr-url=" .. esc(dlr)
    return wrk.format("GET", path)
  end
  local body = '{"from":"+15551230001","to":"+' .. to .. '","body":"vs kannel bench message"}'
  return wrk.format("POST", "/v1/messages", nil, body)
end

function response(status, headers, body)
  done_count = done_count + 1
  if done_count == quota then
    -- wrk's run lasts its -d: say this thread is through, the bench then ends the run with SIGINT
    local f = io.open(out .. ".done" .. tid, "w")
    f:close()
    wrk.thread:stop()
  end
end

function done(summary, latency, requests)
  local f = io.open(out, "w")
  f:write(string.format(
    '{"requests":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d}',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    summary.errors.connect, summary.errors.read, summary.errors.write, summary.errors.status,
    summary.errors.timeout))
  f:close()
end
"""


@dataclass
class Load:
    requests: int = 0
    seconds: float = 0.0
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    errors: int = 0

    @property
    def rate(self) -> float:
        return self.requests / max(1e-9, self.seconds)


def run_wrk(
    workdir: Path, urls: list[str], kind: str, total: int, connections: int, secret: str, sink: str, base: int
) -> Load:
    """``total`` requests split over ``urls`` (one wrk each, connections split), every destination
    different; the wrk runs go at the same time."""
    script = workdir / "vs.lua"
    script.write_text(WRK_LUA)
    procs, outs = [], []
    share = total // len(urls)
    threads = 2 if connections // len(urls) >= 2 else 1
    for i, url in enumerate(urls):
        out = workdir / f"wrk-{i}.json"
        out.unlink(missing_ok=True)
        env = {
            **os.environ,
            "VS_KIND": kind,
            "VS_QUOTA": str(share // threads),
            "VS_SECRET": secret,
            "VS_SINK": sink,
            "VS_OUT": str(out),
            "VS_BASE": str(base + i * 4_000_000),
        }
        cmd = [
            "wrk",
            "-t",
            str(threads),
            "-c",
            str(connections // len(urls)),
            "-d",
            "300s",
            "--timeout",
            "30s",
            "-s",
            str(script),
            url,
        ]
        procs.append(subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE))
        outs.append(out)
    load = Load()
    deadline = time.monotonic() + 300
    for proc, out in zip(procs, outs, strict=True):
        while time.monotonic() < deadline and proc.poll() is None:
            if all(Path(f"{out}.done{t}").exists() for t in range(threads)):
                break
            time.sleep(0.02)
        proc.send_signal(signal.SIGINT)  # wrk then reports the run so far, as at its end
        _, err = proc.communicate(timeout=60)
        for t in range(threads):
            Path(f"{out}.done{t}").unlink(missing_ok=True)
        if proc.returncode != 0 or not out.exists():
            raise RuntimeError(f"wrk failed ({proc.returncode}): {err.decode(errors='replace')[-500:]}")
        r = json.loads(out.read_text())
        load.requests += r["requests"]
        load.seconds = max(load.seconds, r["duration_us"] / 1e6)
        load.p50_ms = max(load.p50_ms, r["p50_us"] / 1000)
        load.p99_ms = max(load.p99_ms, r["p99_us"] / 1000)
        load.errors += sum(r[k] for k in ("connect", "read", "write", "status", "timeout"))
    return load


# -- targets ---------------------------------------------------------------------------------------
KANNEL_CONF = """
group = core
admin-port = {admin}
admin-password = bench
smsbox-port = {smsbox}
admin-allow-ip = 127.0.0.1
box-allow-ip = 127.0.0.1
log-file = "{dir}/bearerbox.log"
log-level = 4
dlr-storage = internal

group = smsc
smsc = smpp
smsc-id = peer
host = 127.0.0.1
port = {smpp}
transceiver-mode = true
smsc-username = {system_id}
smsc-password = {password}
system-type = "VMA"
max-pending-submits = 10

group = smsbox
bearerbox-host = 127.0.0.1
bearerbox-port = {smsbox}
sendsms-port = {http}
log-file = "{dir}/smsbox.log"
log-level = 4

group = sendsms-user
username = bench
password = bench
"""


@dataclass
class Running:
    urls: list[str]
    roots: list[int]
    secret: str = ""
    count_messages: Any = None  # () -> int: messages the target stored (textgate); None: Kannel


def bound_sessions(smsc: Any) -> int:
    return len(httpx.get(f"http://127.0.0.1:{smsc.control_port}/sessions").json())


@contextlib.contextmanager
def kannel(workdir: Path, smsc: Any, sink: str) -> Iterator[Running]:
    from tests.providers.smpp.peer import PASSWORD, SYSTEM_ID

    run = Path(tempfile.mkdtemp(prefix="kannel-", dir=workdir))
    http, admin, smsbox = free_port(), free_port(), free_port()
    conf = run / "kannel.conf"
    conf.write_text(
        KANNEL_CONF.format(
            admin=admin,
            smsbox=smsbox,
            dir=run,
            smpp=smsc.smpp_port,
            system_id=SYSTEM_ID,
            password=PASSWORD,
            http=http,
        )
    )
    bearer = spawn(["bearerbox", "-v", "4", str(conf)], run / "bearerbox.out")
    box = None
    try:
        wait_until(lambda: bound_sessions(smsc) >= 1, "kannel's SMPP bind", proc=bearer)
        box = spawn(["smsbox", "-v", "4", str(conf)], run / "smsbox.out")
        wait_until(lambda: httpx.get(f"http://127.0.0.1:{http}/").status_code > 0, "smsbox", proc=box)
        yield Running([f"http://127.0.0.1:{http}"], [bearer.pid, box.pid])
    finally:
        if box is not None:
            stop(box, signal.SIGTERM)
        stop(bearer, signal.SIGTERM)


def cli(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([str(BIN / "textgate"), *args], env=env, cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"textgate {' '.join(args)} failed: {done.stderr.strip()[-800:]}")
    return done.stdout


@contextlib.contextmanager
def textgate(workdir: Path, smsc: Any, sink: str, db_url: str, nodes: int) -> Iterator[Running]:
    from sqlalchemy import create_engine, text
    from tests.providers.smpp.peer import PASSWORD, SYSTEM_ID

    run = Path(tempfile.mkdtemp(prefix="textgate-", dir=workdir))
    config = run / "textgate.toml"
    config.write_text(TEXTGATE_CONF.format(port=smsc.smpp_port, system_id=SYSTEM_ID, password=PASSWORD))
    env = clean_env(
        TEXTGATE_DATABASE_URL=db_url.format(dir=run),
        TEXTGATE_CONFIG=str(config),
        TEXTGATE_ALLOW_PRIVATE_URLS="true",
        TEXTGATE_LOG_LEVEL="warning",
    )
    account = json.loads(cli(env, "accounts", "create", "bench", "--credits", "1000000000", "--json"))
    cli(env, "numbers", "add", "bench", SENDER)
    procs: list[subprocess.Popen[bytes]] = []
    try:
        urls = []
        for n in range(nodes):
            port = free_port()
            cmd = [str(BIN / "textgate"), "serve", "--host", "127.0.0.1", "--port", str(port)]
            proc = spawn(cmd, run / f"serve-{n}.log", env)
            procs.append(proc)
            url = f"http://127.0.0.1:{port}"
            wait_until(
                lambda url=url: httpx.get(f"{url}/healthz").status_code == 200, f"serve {n}", proc=proc
            )
            urls.append(url)
        hook = httpx.post(
            f"{urls[0]}/v1/webhooks",
            headers={"Authorization": f"Bearer {account['secret']}"},
            json={"url": f"{sink}/hooks", "events": ["message.status"], "statuses": list(FINAL)},
        )
        hook.raise_for_status()
        engine = create_engine(env["TEXTGATE_DATABASE_URL"])

        def count() -> int:
            with engine.connect() as conn:
                return int(conn.execute(text("SELECT count(*) FROM messages")).scalar_one())

        yield Running(urls, [p.pid for p in procs], account["secret"], count)
        engine.dispose()
    finally:
        for proc in procs:
            stop(proc)


@dataclass
class Figures:
    target: str
    messages: int = 0
    accept: float = 0.0
    p50: float = 0.0
    p99: float = 0.0
    e2e: float = 0.0
    callbacks_after: float = 0.0  # s from the first request until the last callback
    cpu_ms: float = 0.0
    rss_mb: float = 0.0
    problems: list[str] = field(default_factory=list)
    shares: str = ""  # two nodes: the submits each node's bind made, and the requests each node accepted


def measure(
    target: str,
    running: Running,
    smsc: Any,
    sink_port: int,
    opts: argparse.Namespace,
    workdir: Path,
    extra_roots: list[int],
    base: int,
) -> Figures:
    sink = f"http://127.0.0.1:{sink_port}"
    httpx.post(f"{sink}/_reset")
    usage = Usage(running.roots + extra_roots)
    spy = None
    if opts.profile and target != "kannel" and shutil.which(str(BIN / "py-spy")):
        out = workdir / f"profile-{target}-{base}.txt"
        spy = subprocess.Popen(
            [
                str(BIN / "py-spy"),
                "record",
                "-p",
                str(running.roots[0]),
                "--subprocesses",
                "--nonblocking",
                "--gil",
                "-r",
                "200",
                "-f",
                "raw",
                "-o",
                str(out),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(1.0)
    usage.begin()
    t0 = time.time()
    kind = "kannel" if target == "kannel" else "textgate"
    load = run_wrk(workdir, running.urls, kind, opts.requests, opts.connections, running.secret, sink, base)
    expected = running.count_messages() if running.count_messages else None
    last, moved, got = -1, time.monotonic(), {}
    while True:
        got = httpx.get(f"{sink}/_count").json()
        smsc_taken = httpx.get(f"http://127.0.0.1:{smsc.control_port}/counts").json()["accepted"]
        goal = expected if expected is not None else smsc_taken
        if got["count"] >= goal and got["count"] >= load.requests - load.errors:
            break
        if got["count"] != last:
            last, moved = got["count"], time.monotonic()
        elif time.monotonic() - moved > opts.stall:
            break
        time.sleep(0.1)
    cpu = usage.end()
    if spy is not None:
        stop(spy)
        print_profile(workdir / f"profile-{target}-{base}.txt")
    counts = httpx.get(f"http://127.0.0.1:{smsc.control_port}/counts").json()
    f = Figures(target)
    f.messages = got["count"]
    f.accept, f.p50, f.p99 = load.rate, load.p50_ms, load.p99_ms
    elapsed = max(1e-9, got["last"] - t0)
    f.e2e = f.messages / elapsed
    f.callbacks_after = elapsed
    f.cpu_ms = 1000 * cpu / max(1, f.messages)
    f.rss_mb = usage.peak_rss / 2**20
    if load.errors:
        f.problems.append(f"{load.errors} request errors")
    stored = expected if expected is not None else counts["accepted"]
    if got["count"] < stored:
        f.problems.append(f"{stored - got['count']} of {stored} messages without their callback")
    twice = sum(1 for v in counts["distinct"].values() if v > 1)
    if twice or got["duplicates"]:
        f.problems.append(f"{twice} sent twice, {got['duplicates']} duplicate callbacks")
    if len(running.urls) > 1:
        resps = httpx.get(
            f"http://127.0.0.1:{smsc.control_port}/received", params={"command": "submit_sm_resp"}
        )
        per_session: dict[str, int] = {}
        for r in resps.json():
            per_session[str(r.get("session"))] = per_session.get(str(r.get("session")), 0) + 1
        f.shares = "submits by bind " + " / ".join(f"{n:,}" for n in sorted(per_session.values()))
    if got["by_status"].keys() - {"delivered"}:
        f.problems.append(f"callback statuses {got['by_status']}")
    return f


def run_target(
    target: str, smsc: Any, sink_port: int, opts: argparse.Namespace, workdir: Path, pg: Any, base: int
) -> Figures:
    httpx.post(f"http://127.0.0.1:{smsc.control_port}/reset", json={}).raise_for_status()
    rule = {"receipt": "DELIVRD", "receipt_delay_ms": opts.receipt_delay_ms}
    httpx.post(f"http://127.0.0.1:{smsc.control_port}/rules", json={"default": rule}).raise_for_status()
    sink = f"http://127.0.0.1:{sink_port}"
    if target == "kannel":
        with kannel(workdir, smsc, sink) as running:
            return measure(target, running, smsc, sink_port, opts, workdir, [], base)
    if target == "sqlite":
        with textgate(workdir, smsc, sink, "sqlite:///{dir}/t.db", 1) as running:
            return measure(target, running, smsc, sink_port, opts, workdir, [], base)
    name = f"bench_{target}_{base}"
    url = pg.create_database(name)
    try:
        with textgate(workdir, smsc, sink, url, 2 if target == "postgres2" else 1) as running:
            return measure(target, running, smsc, sink_port, opts, workdir, [pg.postmaster_pid()], base)
    finally:
        with contextlib.suppress(Exception):
            pg.drop_database(name)


def print_profile(path: Path, top: int = 25) -> None:
    """Own and total samples per function from py-spy's collapsed stacks (idle waits left out)."""
    own: dict[str, int] = {}
    total: dict[str, int] = {}
    samples = 0
    with contextlib.suppress(OSError):
        for line in path.read_text().splitlines():
            stack, _, n = line.rpartition(" ")
            frames = stack.split(";")
            if any(
                w in frames[-1] for w in ("select (", "epoll", "poll (", "wait (", "_worker (", "sleep (")
            ):
                continue
            count = int(n)
            samples += count
            own[frames[-1]] = own.get(frames[-1], 0) + count
            for fr in set(frames):
                total[fr] = total.get(fr, 0) + count
    print(f"    profile: {samples} busy samples ({path})")
    for name, n in sorted(total.items(), key=lambda kv: -kv[1])[:top]:
        print(
            f"      {100 * n / max(1, samples):5.1f}% total "
            f"{100 * own.get(name, 0) / max(1, samples):5.1f}% own  {name[:110]}"
        )


# -- report ----------------------------------------------------------------------------------------
COLUMNS = [
    ("accept req/s", "accept", "{:,.0f}"),
    ("p50 ms", "p50", "{:.1f}"),
    ("p99 ms", "p99", "{:.1f}"),
    ("end to end msg/s", "e2e", "{:,.0f}"),
    ("all callbacks after s", "callbacks_after", "{:.1f}"),
    ("CPU ms a message", "cpu_ms", "{:.2f}"),
    ("peak memory MB (PSS)", "rss_mb", "{:.0f}"),
]


def spread(values: list[float], fmt: str) -> str:
    if not values:
        return "–"
    lo, mid, hi = min(values), statistics.median(values), max(values)
    if len(values) == 1:
        return fmt.format(mid)
    return f"{fmt.format(lo)} – {fmt.format(mid)} – {fmt.format(hi)}"


def ratios(runs: list[dict[str, Figures]], target: str, key: str) -> list[float]:
    return [
        getattr(run[target], key) / getattr(run["kannel"], key)
        for run in runs
        if target in run and "kannel" in run and getattr(run["kannel"], key)
    ]


def table(runs: list[dict[str, Figures]], opts: argparse.Namespace) -> str:
    targets = [t for t in opts.targets if any(t in r for r in runs)]
    head = "| target | " + " | ".join(c[0] for c in COLUMNS) + " | e2e ÷ Kannel | CPU ÷ Kannel |"
    lines = [head, "|---|" + "---:|" * (len(COLUMNS) + 2)]
    names = {
        "kannel": f"Kannel {kannel_version()} (stores nothing)",
        "sqlite": "textgate `serve` (SQLite)",
        "postgres": "textgate on PostgreSQL",
        "postgres2": "textgate, two nodes on one PostgreSQL",
    }
    for t in targets:
        cells = [spread([getattr(r[t], key) for r in runs if t in r], fmt) for _, key, fmt in COLUMNS]
        e2e = "–" if t == "kannel" else spread(ratios(runs, t, "e2e"), "{:.2f}×")
        cpu = "–" if t == "kannel" else spread(ratios(runs, t, "cpu_ms"), "{:.1f}×")
        lines.append(f"| {names[t]} | " + " | ".join(cells) + f" | {e2e} | {cpu} |")
    shares = [r["postgres2"].shares for r in runs if "postgres2" in r and r["postgres2"].shares]
    if shares:
        lines += [
            "",
            "Two nodes, " + "; ".join(shares) + " (one bind each; every submit distinct at the SMSC).",
        ]
    problems = [f"{t}: {'; '.join(r[t].problems)}" for r in runs for t in r if r[t].problems]
    if problems:
        lines += ["", "Problems: " + " | ".join(problems)]
    return "\n".join(lines)


def write_docs(text: str) -> None:
    begin, end = "<!-- vs-kannel:begin -->", "<!-- vs-kannel:end -->"
    doc = DOCS.read_text()
    if begin in doc and end in doc:
        head, rest = doc.split(begin, 1)
        doc = head + begin + "\n" + text + "\n" + end + rest.split(end, 1)[1]
    else:
        doc += f"\n## Single-recipient sends beside Kannel\n\n{begin}\n{text}\n{end}\n"
    DOCS.write_text(doc)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--invocations", type=int, default=3)
    p.add_argument("--requests", type=int, default=5000)
    p.add_argument("--connections", type=int, default=32)
    p.add_argument("--receipt-delay-ms", type=int, default=50)
    p.add_argument("--stall", type=float, default=30.0, help="give up waiting for callbacks after this")
    p.add_argument("--targets", default=",".join(TARGETS))
    p.add_argument("--write-docs", action="store_true")
    p.add_argument("--profile", action="store_true", help="py-spy on textgate's serve (and children)")
    p.add_argument("--keep", action="store_true", help="keep the temporary directory (logs, databases)")
    opts = p.parse_args(argv)
    opts.targets = [t.strip() for t in opts.targets.split(",") if t.strip()]
    unknown = set(opts.targets) - set(TARGETS)
    if unknown:
        p.error(f"unknown targets {sorted(unknown)}; choose from {', '.join(TARGETS)}")
    return opts


def main(argv: Sequence[str] | None = None) -> int:
    if argv is None and len(sys.argv) > 1 and sys.argv[1] == "sink":
        run_sink(int(sys.argv[3]))
        return 0
    opts = parse_args(argv)
    ensure_tools()
    from tests.pg import PgCluster, ensure_bindir
    from tests.providers.smpp.peer import Smsc, ensure_installed

    ensure_installed()
    workdir = Path(tempfile.mkdtemp(prefix="vs-kannel-"))
    smsc = Smsc()
    smsc.start()
    sink_port = free_port()
    sink = spawn(
        [sys.executable, str(Path(__file__).resolve()), "sink", "--port", str(sink_port)],
        workdir / "sink.log",
    )
    pg = None
    runs: list[dict[str, Figures]] = []
    failed = False
    try:
        wait_until(lambda: httpx.get(f"http://127.0.0.1:{sink_port}/_count").status_code == 200, "sink")
        if any(t.startswith("postgres") for t in opts.targets):
            pg = PgCluster(ensure_bindir(), durable=True)
            pg.start()
        print(
            f"{opts.requests:,} single-recipient requests per target, wrk -c {opts.connections}; "
            f"SMSC receipts after {opts.receipt_delay_ms} ms; one bind, window 10; defaults",
            flush=True,
        )
        base = 0
        for n in range(opts.invocations):
            order = opts.targets[n % len(opts.targets) :] + opts.targets[: n % len(opts.targets)]
            run: dict[str, Figures] = {}
            print(f"invocation {n + 1}/{opts.invocations}: {', '.join(order)}", flush=True)
            for target in order:
                f = run_target(target, smsc, sink_port, opts, workdir, pg, base)
                base += opts.requests + opts.connections * 2
                run[target] = f
                failed |= bool(f.problems)
                print(
                    f"  {target:9} "
                    + ", ".join(f"{name} {fmt.format(getattr(f, key))}" for name, key, fmt in COLUMNS)
                    + (f"  ({f.shares})" if f.shares else "")
                    + (f"  PROBLEMS: {'; '.join(f.problems)}" if f.problems else ""),
                    flush=True,
                )
                if "kannel" in run and target != "kannel":
                    print(
                        f"            ÷ Kannel: end to end {f.e2e / run['kannel'].e2e:.2f}×, "
                        f"CPU a message {f.cpu_ms / run['kannel'].cpu_ms:.1f}×",
                        flush=True,
                    )
            runs.append(run)
    finally:
        stop(sink)
        smsc.kill()
        if pg is not None:
            pg.stop()
        if not opts.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    text = table(runs, opts)
    print("\nmin – median – max over", len(runs), "invocations\n" + text)
    if opts.write_docs:
        cmd = "`.venv/bin/python bench/vs_kannel.py" + (
            " --write-docs`" if opts.invocations == 3 else f" --invocations {opts.invocations} --write-docs`"
        )
        write_docs(
            f"{time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores, {cmd}: {opts.requests:,} requests a "
            f"target, one recipient each, wrk -c {opts.connections}, {len(runs)} invocations "
            f"(min – median – max).\n\n{text}"
        )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
