"""The webhook sender: drains ``webhook_deliveries`` with signed POSTs, retries, and keeps per-key order.

The database is the queue, so deliveries survive restarts and any number of workers can share it:

* A delivery is *due* when it is pending, its ``due_at`` has passed and no earlier (smaller ``seq``)
  pending delivery shares its endpoint and ``order_key``. Events about one message therefore reach a
  receiver in the order they happened; a later event waits until the earlier one succeeded or was given
  up.
* Claiming pushes ``due_at`` to the end of a lease. A worker that dies mid-send simply lets the lease run
  out and another worker claims the delivery again (at-least-once; receivers deduplicate on
  ``webhook-id``). The lease end doubles as a fencing token: a worker only records its outcome if
  ``due_at`` still holds the lease it took, so a late, stale worker cannot overwrite a newer result.
* On PostgreSQL, claims use ``FOR UPDATE SKIP LOCKED`` so workers do not queue behind each other; on
  SQLite every transaction begins with ``BEGIN IMMEDIATE``, which serializes claims anyway.
* **A receiver that is down is probed, not hammered, and caught up at once when it is back.** When an
  endpoint fails (no connection, a timeout, 5xx, 408 or 429) it is marked failing: from then on one
  delivery at a time - the oldest due - goes to it as a probe, every 2 s doubling up to
  ``PROBE_CAP_SECONDS`` (30 s), and the deliveries that failed wait for the next probe rather than each
  on its own backoff. The first 2xx clears the mark and every waiting delivery goes, so a receiver that
  was down for hours is caught up within ``PROBE_CAP_SECONDS`` of coming back, at the rate it accepts,
  each message's events still in order. A 4xx other than 408/429 is about that one delivery: it backs off
  on its own (5 s doubling, up to an hour) and does not hold the endpoint's other deliveries back.

Database work is synchronous SQLAlchemy run in threads; sends go out on the event loop through
:mod:`textgate.webhooks.client`, a keep-alive HTTP/1.1 client made for this one job (not httpx as
elsewhere: a gateway sends at least one webhook for every message, and a general client's CPU per request
is several times the rest of a delivery's).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import aiosmtplib
from prometheus_client import Counter
from sqlalchemy import Connection, Engine, Select, and_, exists, func, or_, select, update

from textgate.config import Settings
from textgate.domain.clock import utcnow
from textgate.domain.errors import ValidationError
from textgate.ids import new_id
from textgate.net import check_url_at_send
from textgate.store.db import reading, run_sync
from textgate.store.fast import insert_rows, update_rows
from textgate.store.schema import webhook_attempts, webhook_deliveries, webhook_endpoints
from textgate.webhooks.client import ConnectFailed, ResponseError, WebhookClient
from textgate.webhooks.mail import MailNotConfigured, parse_mailto, send_mail
from textgate.webhooks.secrets import unseal
from textgate.webhooks.signing import sign_headers
from textgate.workers.idle import IdleWait

log = logging.getLogger(__name__)

ATTEMPTS = Counter(
    "textgate_webhook_attempts_total",
    "Webhook delivery attempts, by outcome.",
    ["outcome"],
)

#: First and longest wait between probes of a failing endpoint.
PROBE_BASE_SECONDS = 2.0
PROBE_CAP_SECONDS = 30.0
RETRY_BASE_SECONDS = 5.0
RETRY_CAP_SECONDS = 3600.0
RETRY_MIN_SECONDS = 1.0
DEFAULT_BATCH = 100
DEFAULT_CONCURRENCY = 16
MAX_ERROR_LENGTH = 500
#: Response bytes read after the status line so the connection can be reused; a longer body is cut off.
MAX_DRAIN_BYTES = 64 * 1024
USER_AGENT = "textgate-webhooks/1"
ERROR_PAUSE_SECONDS = 1.0


def retry_delay(
    attempt: int,
    *,
    rng: Callable[[], float] = random.random,
    base: float = RETRY_BASE_SECONDS,
    cap: float = RETRY_CAP_SECONDS,
) -> timedelta:
    """How long to wait after the ``attempt``-th failed attempt (1 = the first) before the next one.

    Exponential backoff with full jitter: the ceiling starts at ``base`` (5 s) and doubles per attempt up
    to ``cap`` (1 h) — 5 s, 10 s, 20 s, ... 1 h — and the actual wait is uniform between zero and that
    ceiling, so receivers coming back from an outage are not hit by every sender in lock-step. A floor of
    one second keeps a zero draw from turning into a tight loop. ``rng`` returns a float in [0, 1).
    """
    exponent = min(max(attempt, 1) - 1, 32)  # 2**32 * 5 s is far past any cap; avoids huge floats
    ceiling = min(cap, base * (2**exponent))
    return timedelta(seconds=max(RETRY_MIN_SECONDS, rng() * ceiling))


@dataclass(frozen=True, slots=True)
class Claim:
    """One delivery a worker holds until ``lease_until``."""

    seq: int
    id: str
    endpoint_id: str
    order_key: str
    payload: str
    attempts: int
    give_up_at: datetime
    url: str
    secret: str
    lease_until: datetime
    method: str = "POST"
    content_type: str | None = "application/json"
    #: The endpoint was failing when this was claimed (this delivery is its probe), and its failures so far.
    probe: bool = False
    endpoint_failures: int = 0


@dataclass(frozen=True, slots=True)
class Outcome:
    ok: bool
    status_code: int | None
    error: str | None
    label: str

    @property
    def endpoint_down(self) -> bool:
        """A failure of the receiver as a whole (not of this one delivery's content)."""
        if self.ok or self.label == "refused":
            return False
        code = self.status_code
        return code is None or code >= 500 or code in (408, 429)


def probe_delay(failures: int, rng: Callable[[], float] = random.random) -> timedelta:
    """The wait before the next probe of an endpoint that failed ``failures`` times in a row."""
    ceiling = min(PROBE_CAP_SECONDS, PROBE_BASE_SECONDS * (2 ** min(max(failures, 1) - 1, 16)))
    return timedelta(seconds=ceiling * (0.8 + rng() * 0.2))


@dataclass(frozen=True, slots=True)
class Attempt:
    claim: Claim
    outcome: Outcome
    started: datetime
    duration_ms: int


class WebhookWorker:
    def __init__(
        self,
        engine: Engine,
        settings: Settings,
        *,
        client: WebhookClient | None = None,
        clock: Callable[[], datetime] = utcnow,
        worker_id: str | None = None,
        batch_size: int = DEFAULT_BATCH,
        concurrency: int = DEFAULT_CONCURRENCY,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self.engine = engine
        self.settings = settings
        self._client = client
        self._own_client = client is None
        self.clock = clock
        self.worker_id = worker_id or new_id("whw", 8)
        self.batch_size = batch_size
        self.concurrency = max(1, concurrency)
        self.rng = rng
        self._lease = timedelta(seconds=settings.lease_seconds)
        self.idle = IdleWait(settings.poll_interval, settings.idle_poll_max)

    # -- the queue -----------------------------------------------------------------------------
    def _claim(self, now: datetime) -> list[Claim]:
        """Take up to ``batch_size`` due deliveries (at most one per endpoint and order key)."""
        d = webhook_deliveries
        earlier = webhook_deliveries.alias("earlier")
        blocked = exists().where(
            earlier.c.endpoint_id == d.c.endpoint_id,
            earlier.c.order_key == d.c.order_key,
            earlier.c.status == "pending",
            earlier.c.seq < d.c.seq,
        )
        query = (
            select(
                d.c.seq,
                d.c.id,
                d.c.endpoint_id,
                d.c.order_key,
                d.c.payload,
                d.c.method,
                d.c.content_type,
                d.c.target_url,
                d.c.attempts,
                d.c.give_up_at,
                webhook_endpoints.c.url,
                webhook_endpoints.c.secret,
                webhook_endpoints.c.failing_since,
                webhook_endpoints.c.failures,
            )
            .join(
                webhook_endpoints,
                and_(webhook_endpoints.c.id == d.c.endpoint_id, webhook_endpoints.c.deleted_at.is_(None)),
            )
            .where(
                d.c.status == "pending",
                d.c.due_at <= now,
                ~blocked,
                or_(webhook_endpoints.c.probe_at.is_(None), webhook_endpoints.c.probe_at <= now),
            )
            .order_by(d.c.due_at, d.c.seq)
            .limit(self.batch_size)
        )
        lease_until = now + self._lease
        rows: Sequence[Any]
        if self.engine.dialect.name == "postgresql":
            with self.engine.begin() as conn:
                rows = _one_probe_each(conn.execute(query.with_for_update(skip_locked=True, of=d)).all())
                seqs = [r.seq for r in rows]
                if seqs:
                    conn.execute(update(d).where(d.c.seq.in_(seqs)).values(due_at=lease_until))
                    _hold_probes(conn, rows, lease_until)
        else:
            rows = self._claim_sqlite(query, now, lease_until)
        return [
            Claim(
                seq=r.seq,
                id=r.id,
                endpoint_id=r.endpoint_id,
                order_key=r.order_key,
                payload=r.payload,
                method=r.method,
                content_type=r.content_type,
                url=r.target_url or r.url,
                attempts=r.attempts,
                give_up_at=r.give_up_at,
                secret=unseal(r.secret),
                lease_until=lease_until,
                probe=r.failing_since is not None,
                endpoint_failures=int(r.failures or 0),
            )
            for r in rows
        ]

    def _claim_sqlite(self, query: Select[Any], now: datetime, lease_until: datetime) -> Sequence[Any]:
        """SQLite: read the candidates from a snapshot, without the write lock, then take them with one
        guarded update (still pending and due). Reading up to a batch of payloads while holding the lock
        made every other writer on the file wait for it. A candidate another worker took in between
        fails the guard and is left out."""
        with reading(self.engine) as conn:
            rows = _one_probe_each(conn.execute(query).all())
        if not rows:
            return []
        d = webhook_deliveries
        seqs = [r.seq for r in rows]
        with self.engine.begin() as conn:
            mine = set(
                conn.execute(
                    update(d)
                    .where(d.c.seq.in_(seqs), d.c.status == "pending", d.c.due_at <= now)
                    .values(due_at=lease_until)
                    .returning(d.c.seq)
                ).scalars()
            )
            taken = [r for r in rows if r.seq in mine]
            _hold_probes(conn, taken, lease_until)
        return taken

    def _finish(self, done: list[Attempt]) -> int:
        """Record a round's attempts and each delivery's next state, in one transaction. Returns how
        many were recorded; an attempt whose lease was lost meanwhile is logged and left alone."""
        now = self.clock()
        recorded = 0
        with self.engine.begin() as conn:
            insert_rows(
                conn,
                webhook_attempts,
                [
                    {
                        "delivery_id": a.claim.id,
                        "at": a.started,
                        "status_code": a.outcome.status_code,
                        "error": a.outcome.error,
                        "duration_ms": a.duration_ms,
                    }
                    for a in done
                ],
            )
            up = {a.claim.endpoint_id for a in done if a.outcome.ok}
            failures = {a.claim.endpoint_id: a.claim.endpoint_failures for a in done}
            down = {a.claim.endpoint_id for a in done if a.outcome.endpoint_down} - up
            # A receiver that is down: its deliveries wait for its next probe, not each on its own backoff.
            probe_in = {e: probe_delay(failures[e] + 1, self.rng) for e in down}
            by_keys: dict[tuple[str, ...], list[list[object]]] = {}
            for a in done:
                claim, outcome = a.claim, a.outcome
                attempts = claim.attempts + 1
                values: dict[str, object] = {
                    "attempts": attempts,
                    "last_status_code": outcome.status_code,
                    "last_error": outcome.error,
                }
                if outcome.ok:
                    values.update(status="succeeded", due_at=None, delivered_at=now)
                elif now >= claim.give_up_at:
                    values.update(status="failed", due_at=None)
                    log.info("webhook delivery %s given up after %d attempts", claim.id, attempts)
                elif claim.endpoint_id in probe_in:
                    values.update(due_at=now + probe_in[claim.endpoint_id])
                else:
                    values.update(due_at=now + retry_delay(attempts, rng=self.rng))
                # Guarded: only a delivery still pending under the lease this worker took is touched.
                row = [claim.seq, "pending", claim.lease_until, *values.values()]
                by_keys.setdefault(tuple(values), []).append(row)
            for keys, rows in by_keys.items():
                recorded += update_rows(conn, webhook_deliveries, ("seq", "status", "due_at"), keys, rows)
            probed = {a.claim.endpoint_id for a in done if a.claim.probe}
            self._endpoint_health(
                conn, now, up=up & probed, down=probe_in, probed=probed - up - set(probe_in)
            )
        if recorded < len(done):
            log.warning(
                "webhook worker %s: %d deliveries' leases were lost before their outcomes were recorded",
                self.worker_id,
                len(done) - recorded,
            )
        return recorded

    @staticmethod
    def _endpoint_health(
        conn: Connection, now: datetime, *, up: set[str], down: dict[str, timedelta], probed: set[str]
    ) -> None:
        """Endpoints that answered 2xx to a probe are healthy again; those down get their next probe time;
        a probe that failed on its own content (a 4xx) is followed by another one at once."""
        e = webhook_endpoints.c
        for endpoint in up:
            conn.execute(
                update(webhook_endpoints)
                .where(e.id == endpoint)
                .values(failing_since=None, failures=0, probe_at=None)
            )
            log.info("webhook endpoint %s answers again", endpoint)
        for endpoint, wait in down.items():
            conn.execute(
                update(webhook_endpoints)
                .where(e.id == endpoint)
                .values(
                    failures=e.failures + 1,
                    failing_since=func.coalesce(e.failing_since, now),
                    probe_at=now + wait,
                )
            )
        if probed:
            conn.execute(update(webhook_endpoints).where(e.id.in_(list(probed))).values(probe_at=now))

    # -- sending -------------------------------------------------------------------------------
    @property
    def client(self) -> WebhookClient:
        """The HTTP client (made on first use unless one was given)."""
        if self._client is None:
            self._client = WebhookClient(max_idle=max(self.concurrency, 16), max_body=MAX_DRAIN_BYTES)
        return self._client

    async def aclose(self) -> None:
        """Close the HTTP client's connections if the worker made it."""
        if self._own_client and self._client is not None:
            await self._client.close()
            self._client = None

    async def _mail(self, claim: Claim) -> Outcome:
        try:
            await send_mail(self.settings, parse_mailto(claim.url), claim.payload, claim.content_type)
        except ValidationError as exc:
            return Outcome(False, None, _clip(f"address refused: {exc.message}"), "refused")
        except (MailNotConfigured, aiosmtplib.SMTPException, OSError) as exc:
            return Outcome(False, None, _clip(f"{type(exc).__name__}: {exc}"), "network_error")
        return Outcome(True, None, None, "succeeded")

    async def _post(self, claim: Claim, at: datetime) -> Outcome:
        if claim.url.startswith("mailto:"):
            return await self._mail(claim)
        try:
            pinned = None
            if not self.settings.allow_private_urls:
                # Connect to an address the guard checked, not to a fresh resolution (DNS rebinding).
                checked = await check_url_at_send(claim.url, allow_private=False)
                pinned = checked[0] if checked else None
            headers = sign_headers(claim.secret, claim.id, at, claim.payload)
            if claim.content_type and claim.method != "GET":
                headers["content-type"] = claim.content_type
            headers["user-agent"] = USER_AGENT
            # Redirects are not followed (SSRF). A short body is read to its end so the connection goes
            # back to the pool; a longer one is cut off and that connection closed.
            code = await self.client.request(
                claim.method,
                claim.url,
                headers,
                claim.payload.encode() if claim.method != "GET" else None,
                timeout=self.settings.webhook_timeout,
                address=pinned,
            )
        except ValidationError as exc:
            return Outcome(False, None, _clip(f"URL refused: {exc.message}"), "refused")
        except TimeoutError:
            return Outcome(False, None, f"timed out after {self.settings.webhook_timeout:g} s", "timeout")
        except ConnectFailed as exc:
            return Outcome(False, None, _clip(f"connection failed: {exc}"), "network_error")
        except (ResponseError, OSError, ValueError) as exc:  # ValueError: a URL or header it cannot send
            return Outcome(False, None, _clip(f"{type(exc).__name__}: {exc}"), "network_error")
        if 200 <= code < 300:
            return Outcome(True, code, None, "succeeded")
        return Outcome(False, code, f"HTTP {code}", "http_error")

    async def _send(self, claim: Claim) -> Attempt:
        started = self.clock()
        t0 = time.monotonic()
        outcome = await self._post(claim, started)
        duration_ms = int((time.monotonic() - t0) * 1000)
        ATTEMPTS.labels(outcome=outcome.label).inc()
        return Attempt(claim, outcome, started, duration_ms)

    async def run_once(self) -> int:
        """Claim one batch of due deliveries and send it; returns how many were attempted."""
        claims = await run_sync(self.engine, self._claim, self.clock())
        if not claims:
            return 0
        # The claim query already yields one delivery per key; grouping keeps that true regardless.
        groups: dict[tuple[str, str], list[Claim]] = {}
        for claim in claims:
            groups.setdefault((claim.endpoint_id, claim.order_key), []).append(claim)
        bound = asyncio.Semaphore(self.concurrency)
        done: list[Attempt] = []

        async def send_group(group: list[Claim]) -> None:
            for claim in group:
                async with bound:
                    done.append(await self._send(claim))

        results = await asyncio.gather(*(send_group(g) for g in groups.values()), return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                # The lease runs out and another pass retries; nothing is lost.
                log.error("webhook worker %s: send failed", self.worker_id, exc_info=result)
        if done:
            # One transaction for the round's outcomes: recording them one by one cost more than sending.
            await run_sync(self.engine, self._finish, done)
        return len(claims)

    async def run(self, stop: asyncio.Event) -> None:
        """Send until ``stop`` is set; waits (see ``workers.idle``) when idle and survives any error."""
        log.info("webhook worker %s started", self.worker_id)
        while not stop.is_set():
            try:
                sent = await self.run_once()
            except Exception:
                log.exception("webhook worker %s: pass failed", self.worker_id)
                with contextlib.suppress(TimeoutError):  # e.g. the database is down: do not spin
                    await asyncio.wait_for(stop.wait(), timeout=ERROR_PAUSE_SECONDS)
                continue
            if sent:
                self.idle.worked()
            else:
                await self.idle.wait(stop)
        log.info("webhook worker %s stopped", self.worker_id)


def _one_probe_each(rows: Sequence[Any]) -> list[Any]:
    """Of the candidates, every one for a healthy endpoint, but only the first for a failing one."""
    probed: set[str] = set()
    out = []
    for row in rows:
        if row.failing_since is not None:
            if row.endpoint_id in probed:
                continue
            probed.add(row.endpoint_id)
        out.append(row)
    return out


def _hold_probes(conn: Connection, rows: Sequence[Any], lease_until: datetime) -> None:
    """While a failing endpoint's probe is out, no other worker sends it another."""
    failing = list({r.endpoint_id for r in rows if r.failing_since is not None})
    if failing:
        e = webhook_endpoints.c
        conn.execute(update(webhook_endpoints).where(e.id.in_(failing)).values(probe_at=lease_until))


def _clip(text: str) -> str:
    return text if len(text) <= MAX_ERROR_LENGTH else text[: MAX_ERROR_LENGTH - 1] + "…"
