"""SMPP soak: does every message get through an SMSC that throttles, races and goes away - once?

One invocation runs three scenarios, each on a fresh SQLite file with ``textgate serve`` on its **default
settings** and the minimal ``[[connectors]]``/``[[routes]]`` TOML of docs/routing.md, against the node SMSC
peer (``tests/smsc/server.js``, npm ``smpp``) set up like a hard carrier:

* it takes at most ``--tps`` submits a second per session and throttles the rest (``ESME_RTHROTTLED``),
  and on top of that throttles one submit in ``--throttle-every`` (7) whatever the rate;
* its receipts are text only, with the message id written in decimal (the responses are hexadecimal);
* one receipt in ``--early-every`` (5) is sent *before* its ``submit_sm_resp``.

``--messages`` (10,000) are posted to the native API, 100 recipients a request, every destination
different; one message in three is long (GSM-7 and UCS-2, 2 to 4 parts). Scenarios:

1. **no faults**;
2. **outage**: when half the parts have been taken, the SMSC drops every session and refuses connections
   for ``--outage`` seconds (600), then comes back;
3. **kill**: when half the parts have been taken, ``serve`` is killed with SIGKILL and started again on the
   same database ``--restart-after`` seconds later.

Each scenario ends when every message has a final status (or nothing moved for ``--stall`` seconds).
Printed per scenario: delivered / other final / not final (lost), parts needed, parts the SMSC took
beyond those (its billing), concatenation sets incomplete at the SMSC, throttled PDUs, resubmissions and
unknown outcomes from the messages' timelines, time to drain, and the submit rate achieved while bound
against the SMSC's limit. Targets (the issue's): 0 failed, 0 lost, 0 incomplete sets, 0 extra parts
without faults and through the outage; with the kill 0 lost, and extra parts only for submissions whose
outcome the kill left unknown (at most the resubmissions counted).

Run: ``.venv/bin/python bench/smpp_soak.py [--messages 10000] [--outage 600] [--write-docs]``
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

if __package__ in (None, ""):  # run as a script: make ``bench`` and ``tests`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.e2e_smpp import BIN, ROOT, stop, textgate_cli, wait_http
from bench.loadgen import clean_env, free_port

SENDER = "+15551230001"
PER_REQUEST = 100
FINAL = ("delivered", "undelivered", "failed", "expired", "rejected")
DOCS = ROOT / "docs" / "benchmarks.md"
BEGIN, END = "<!-- smpp-soak:begin -->", "<!-- smpp-soak:end -->"

TOML = """
[[connectors]]
name = "smsc1"
type = "smpp"
host = "127.0.0.1"
port = {port}
system_id = "{system_id}"
password = "{password}"

[[routes]]
name = "default"
connectors = ["smsc1"]
"""


def texts() -> list[str]:
    """The bodies, in the order requests cycle through them: two short ones, then a long one."""
    gsm = "Your parcel is on its way and will be delivered tomorrow between 9 and 12. Reply STOP to opt out. "
    ucs = "Ваша посылка в пути 🚚 и будет доставлена завтра. Ответьте STOP чтобы отписаться. "
    longs = [
        (gsm * 3)[:300],
        (ucs * 3)[:130],
        (gsm * 5)[:450],
        (ucs * 4)[:260],
        (gsm * 4)[:600],
        (ucs * 5)[:200],
    ]
    out: list[str] = []
    for long in longs:
        out += ["Your code is 482913", "Appointment confirmed: Tue 10:30", long]
    return out


def parts_of(body: str) -> int:
    from textgate.domain.encoding import split

    return len(split(body))


@dataclass
class Sent:
    ids: list[str] = field(default_factory=list)
    dest: dict[str, str] = field(default_factory=dict)  # message id -> destination as the SMSC sees it
    parts: dict[str, int] = field(default_factory=dict)
    first_accept: float = 0.0
    errors: int = 0


@dataclass
class Serve:
    proc: subprocess.Popen[bytes]
    url: str
    env: dict[str, str]
    log: Path
    port: int


@contextlib.contextmanager
def serving(workdir: Path, name: str, smpp_port: int) -> Iterator[tuple[Serve, str, Path]]:
    from tests.providers.smpp.peer import PASSWORD, SYSTEM_ID

    run_dir = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=workdir))
    db = run_dir / "t.db"
    config = run_dir / "textgate.toml"
    config.write_text(TOML.format(port=smpp_port, system_id=SYSTEM_ID, password=PASSWORD))
    env = clean_env(
        TEXTGATE_DATABASE_URL=f"sqlite:///{db}",
        TEXTGATE_CONFIG=str(config),
        TEXTGATE_LOG_LEVEL="warning",
    )
    account = json.loads(textgate_cli(env, "accounts", "create", "soak", "--credits", "1000000000", "--json"))
    textgate_cli(env, "numbers", "add", "soak", SENDER)
    holder: list[Serve] = [start_serve(env, run_dir, free_port())]
    try:
        yield holder[0], account["secret"], db
    finally:
        stop(holder[0].proc)


def start_serve(env: dict[str, str], run_dir: Path, port: int) -> Serve:
    log = run_dir / f"server-{int(time.time())}.log"
    cmd = [str(BIN / "textgate"), "serve", "--host", "127.0.0.1", "--port", str(port)]
    with log.open("wb") as fh:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=fh, stderr=subprocess.STDOUT)
    serve = Serve(proc, f"http://127.0.0.1:{port}", env, log, port)
    wait_http(f"{serve.url}/healthz", proc, log, timeout=60)
    return serve


async def post_all(url: str, secret: str, messages: int, concurrency: int) -> Sent:
    bodies = texts()
    sent = Sent()
    requests = [
        (
            bodies[i % len(bodies)],
            [f"+4474009{n:05d}" for n in range(i * PER_REQUEST, min(messages, (i + 1) * PER_REQUEST))],
        )
        for i in range((messages + PER_REQUEST - 1) // PER_REQUEST)
    ]
    queue = list(reversed(requests))
    headers = {"Authorization": f"Bearer {secret}"}

    async def worker(client: httpx.AsyncClient) -> None:
        while queue:
            body, to = queue.pop()
            answer = await client.post(f"{url}/v1/messages", json={"from": SENDER, "to": to, "body": body})
            if answer.status_code != 202:
                sent.errors += 1
                continue
            sent.first_accept = sent.first_accept or time.time()
            for view in answer.json()["messages"]:
                sent.ids.append(view["id"])
                sent.dest[view["id"]] = view["to"].lstrip("+")
                sent.parts[view["id"]] = parts_of(body)

    async with httpx.AsyncClient(headers=headers, timeout=60) as client:
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
    return sent


def db_view(db: Path) -> tuple[Counter[str], float | None, dict[str, int]]:
    """Statuses, the time the last message became final (epoch s), and timeline counters."""
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)) as conn:
        statuses = Counter(
            dict(
                conn.execute(
                    "SELECT status, count(*) FROM messages WHERE direction='outbound' GROUP BY status"
                )
            )
        )
        last = conn.execute(
            "SELECT max(updated_at) FROM messages WHERE direction='outbound' AND status IN "
            "('delivered','undelivered','failed','expired','rejected')"
        ).fetchone()[0]
        counters = {
            "resubmissions": conn.execute(
                "SELECT count(*) FROM message_events WHERE detail LIKE '%\"resubmission\"%'"
            ).fetchone()[0],
            "unknown_outcomes": conn.execute(
                "SELECT count(*) FROM message_events WHERE error_code = 'unknown_outcome'"
            ).fetchone()[0],
            "late_answers": conn.execute(
                "SELECT count(*) FROM message_events WHERE detail LIKE '%\"late_answer\"%'"
            ).fetchone()[0],
            "duplicates": conn.execute(
                "SELECT count(*) FROM message_events WHERE error_code = 'duplicate_submission'"
            ).fetchone()[0],
            "attempts_over_1": conn.execute(
                "SELECT count(*) FROM messages WHERE direction='outbound' AND attempts > 1"
            ).fetchone()[0],
        }
    when = datetime.fromisoformat(last).replace(tzinfo=UTC).timestamp() if last else None
    return statuses, when, counters


@dataclass
class Result:
    name: str
    statuses: Counter[str]
    needed: int
    taken: int
    extra: int
    incomplete: int
    throttled: int
    counters: dict[str, int]
    drain_s: float
    submit_rate: float
    limit: float
    bound_s: float
    errors: int

    @property
    def lost(self) -> int:
        return sum(n for s, n in self.statuses.items() if s not in FINAL)

    @property
    def failed(self) -> int:
        return sum(n for s, n in self.statuses.items() if s in FINAL and s != "delivered")


def busy_seconds(per_second: dict[str, int]) -> list[int]:
    """Accepted submits in each second the SMSC was taking them, leaving out the first and last second of
    every stretch (partly idle): the rate achieved while there was work and a bound session."""
    seconds = sorted((int(k), n) for k, n in per_second.items())
    runs: list[list[int]] = []
    previous = None
    for second, n in seconds:
        if previous is None or second != previous + 1:
            runs.append([])
        runs[-1].append(n)
        previous = second
    return [n for run in runs for n in run[1:-1]]


def analyse(
    name: str, sent: Sent, db: Path, counts: dict[str, Any], limit: float, drain_s: float, outage: float
) -> Result:
    statuses, _last, counters = db_view(db)
    distinct: dict[str, int] = counts["distinct"]
    by_dest: dict[str, dict[int, int]] = {}
    for key, n in distinct.items():
        dest, _ref, part = key.split("|")
        by_dest.setdefault(dest, {})[int(part)] = by_dest.setdefault(dest, {}).get(int(part), 0) + n
    needed = sum(sent.parts.values())
    taken = sum(distinct.values())
    incomplete = 0
    for mid in sent.ids:
        got = by_dest.get(sent.dest[mid], {})
        if any(got.get(p, 0) == 0 for p in range(1, sent.parts[mid] + 1)):
            incomplete += 1
    busy = busy_seconds(counts.get("per_second") or {})
    span = float(len(busy)) or 0.001
    return Result(
        name=name,
        statuses=statuses,
        needed=needed,
        taken=taken,
        extra=taken - needed,
        incomplete=incomplete,
        throttled=int(counts["throttled"]),
        counters=counters,
        drain_s=drain_s,
        submit_rate=sum(busy) / span,
        limit=limit,
        bound_s=span,
        errors=sent.errors,
    )


def run_scenario(workdir: Path, smsc: Any, opts: argparse.Namespace, fault: str) -> Result:
    asyncio.run(smsc.reset())
    asyncio.run(
        smsc.default_rule(
            throttle_every=opts.throttle_every, receipt_id="dec", receipt_before_resp_every=opts.early_every
        )
    )
    asyncio.run(smsc.limits(tps=opts.tps))
    with serving(workdir, fault, smsc.smpp_port) as (serve, secret, db):
        deadline = time.monotonic() + 30
        while httpx.get(f"{serve.url}/healthz").status_code != 200:  # bound
            if time.monotonic() > deadline:
                raise RuntimeError(f"serve never bound; log {serve.log}")
            time.sleep(0.1)
        started = time.time()
        sent = asyncio.run(post_all(serve.url, secret, opts.messages, 4))
        needed = sum(sent.parts.values())
        print(
            f"  {fault}: {len(sent.ids):,} messages accepted ({needed:,} parts), {sent.errors} request errors"
        )
        injected = fault == "none"
        outage = 0.0
        last_change = time.monotonic()
        previous: tuple[int, ...] = ()
        while True:
            counts = asyncio.run(smsc.counts())
            if not injected and counts["accepted"] >= needed / 2:
                injected = True
                if fault == "outage":
                    print(f"  SMSC away for {opts.outage:.0f} s (at {counts['accepted']:,} parts taken)")
                    asyncio.run(smsc.outage(opts.outage))
                    outage = opts.outage
                elif fault == "kill":
                    print(
                        f"  kill -9 serve (at {counts['accepted']:,} parts taken); "
                        f"start again in {opts.restart_after:g} s"
                    )
                    serve.proc.send_signal(signal.SIGKILL)
                    serve.proc.wait()
                    time.sleep(opts.restart_after)
                    fresh = start_serve(serve.env, db.parent, serve.port)
                    serve.proc, serve.log = fresh.proc, fresh.log
            statuses, _last, _ = db_view(db)
            done = sum(n for s, n in statuses.items() if s in FINAL)
            state = (done, counts["accepted"], counts["submits"])
            if state != previous:
                previous, last_change = state, time.monotonic()
            if done >= len(sent.ids):
                break
            allowed = opts.stall + (opts.outage if fault == "outage" else 0)
            if time.monotonic() - last_change > allowed:
                print(f"  nothing moved for {allowed:.0f} s: stopping with {len(sent.ids) - done} not final")
                break
            time.sleep(1.0)
        _statuses, last, _ = db_view(db)
        drain = (last or time.time()) - (sent.first_accept or started)
        counts = asyncio.run(smsc.counts())
        if opts.verbose:
            per = counts.get("per_second") or {}
            print("    accepted per second:", [per[k] for k in sorted(per)])
        result = analyse(fault, sent, db, counts, float(opts.tps), drain, outage)
    print_result(result)
    return result


def print_result(r: Result) -> None:
    c = r.counters
    print(
        f"    delivered {r.statuses.get('delivered', 0):,}, other final {r.failed:,}, not final {r.lost:,}; "
        f"parts needed {r.needed:,}, taken {r.taken:,} (extra {r.extra:,}), "
        f"incomplete sets {r.incomplete:,}; "
        f"throttled PDUs {r.throttled:,}; resubmissions {c['resubmissions']:,}, unknown outcomes "
        f"{c['unknown_outcomes']:,}, late answers {c['late_answers']:,}, duplicates {c['duplicates']:,}; "
        f"drained in {r.drain_s:,.0f} s; submit rate while bound {r.submit_rate:,.0f}/s "
        f"of the SMSC's {r.limit:,.0f}/s"
    )


def verdict(r: Result) -> str:
    problems = []
    if r.lost:
        problems.append(f"{r.lost} lost")
    if r.incomplete:
        problems.append(f"{r.incomplete} incomplete sets")
    if r.name != "kill":
        if r.failed:
            problems.append(f"{r.failed} failed")
        if r.extra:
            problems.append(f"{r.extra} extra parts")
    elif r.extra > r.counters["resubmissions"] * 4:
        problems.append(f"{r.extra} extra parts for {r.counters['resubmissions']} resubmissions")
    if r.errors:
        problems.append(f"{r.errors} request errors")
    return "met" if not problems else "NOT met: " + ", ".join(problems)


def table(results: list[Result], opts: argparse.Namespace) -> str:
    rows = [
        "| scenario | delivered | other final | not final | parts needed | extra parts taken | "
        "incomplete sets | throttled PDUs | resubmissions (unknown outcomes) | drain | "
        "submit rate while bound (SMSC limit) | targets |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    names = {"none": "no faults", "outage": f"SMSC away {opts.outage:.0f} s", "kill": "kill -9 of serve"}
    for r in results:
        c = r.counters
        rows.append(
            f"| {names[r.name]} | {r.statuses.get('delivered', 0):,} | {r.failed:,} | {r.lost:,} | "
            f"{r.needed:,} | {r.extra:,} | {r.incomplete:,} | {r.throttled:,} | "
            f"{c['resubmissions']:,} ({c['unknown_outcomes']:,}) | "
            f"{r.drain_s:,.0f} s | {r.submit_rate:,.0f}/s ({r.limit:,.0f}/s) | {verdict(r)} |"
        )
    return "\n".join(rows)


def write_docs(text: str) -> None:
    doc = DOCS.read_text()
    if BEGIN in doc and END in doc:
        head, _, rest = doc.partition(BEGIN)
        _, _, tail = rest.partition(END)
        doc = head + BEGIN + "\n" + text + "\n" + END + tail
    else:
        doc = doc.rstrip() + "\n\n" + BEGIN + "\n" + text + "\n" + END + "\n"
    DOCS.write_text(doc)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--messages", type=int, default=10_000)
    p.add_argument("--tps", type=int, default=250, help="the SMSC's limit, submits a second per session")
    p.add_argument("--throttle-every", type=int, default=7)
    p.add_argument("--early-every", type=int, default=5)
    p.add_argument("--outage", type=float, default=600.0)
    p.add_argument("--restart-after", type=float, default=3.0)
    p.add_argument("--stall", type=float, default=180.0)
    p.add_argument("--scenarios", default="none,outage,kill")
    p.add_argument("--write-docs", action="store_true")
    p.add_argument("--verbose", action="store_true", help="print the SMSC's accepted submits per second")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    opts = parse_args(argv)
    from tests.providers.smpp.peer import Smsc, ensure_installed

    ensure_installed()
    workdir = Path(tempfile.mkdtemp(prefix="smpp-soak-"))
    smsc = Smsc()
    smsc.start()
    results: list[Result] = []
    try:
        print(
            f"{opts.messages:,} messages (one in three long), SMSC limit {opts.tps}/s, one submit in "
            f"{opts.throttle_every} throttled, one receipt in {opts.early_every} before its response, "
            "decimal ids in text-only receipts; serve on default settings"
        )
        for fault in opts.scenarios.split(","):
            results.append(run_scenario(workdir, smsc, opts, fault))
    finally:
        smsc.kill()
    print()
    text = table(results, opts)
    print(text)
    if opts.write_docs:
        stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        command = "`.venv/bin/python bench/smpp_soak.py --write-docs`" + (
            ""
            if opts.messages == 10_000 and opts.outage == 600
            else f" (--messages {opts.messages} --outage {opts.outage:g})"
        )
        head = subprocess.run(
            ["git", "log", "-1", "--format=%h %s"], cwd=ROOT, capture_output=True, text=True, check=False
        ).stdout.strip()
        write_docs(f"Produced by {command} on {stamp}, source {head}.\n\n{text}")
    return 0 if all(verdict(r) == "met" for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
