"""The router: a :class:`~textgate.providers.base.Connector` made of connectors, so the dispatch worker
does not know it exists.

One ``submit_many`` round:

1. **route** - each message goes to the first route whose rules match it (:mod:`textgate.routing.rules`);
   none matches: a permanent ``routing_error``.
2. **rate limits** - the messages take tokens from their account's and their route's shared buckets
   (:mod:`textgate.routing.ratelimit`); one without a token is :class:`Deferred` (not an attempt).
3. **submit** - each message is offered to its route's members in the strategy's order
   (:mod:`textgate.routing.strategies`), skipping members whose circuit breaker is open
   (:mod:`textgate.routing.breaker`). The messages for one member go in one ``submit_many`` call; the
   members are called concurrently.
4. **fail over** - a retryable refusal that certainly left the message untaken (see
   :class:`FailoverPolicy`), or a member that could not take it now (:class:`Deferred`: throttled, not
   bound), sends it on to the next member, in the same round. Any other retryable failure - above all
   no answer after the request went out (:class:`Unknown`), when the carrier may have taken it - ends
   the round for that message: the dispatcher retries it later, so it is never in flight at two carriers
   at once. A permanent refusal is final - it is about the message - unless it is about our account at
   that carrier (credentials, permission, credit), which another member may not share. A long message
   some of whose parts a member took goes back to that member only (``OutboundMessage.pinned``).
5. **nobody can take it** - every member skipped (down, breaker open), or the last one unreachable or
   throttling: :class:`Deferred`. Waiting for a carrier is not a failure and costs no attempt; the
   message stays queued until its validity period ends.

Throttles are flow control: they neither open a breaker nor count as a success.

An accepted message's outcome is ``Submitted(carrier_id, connector=<member name>)``: its receipts arrive
from that member, which reports under its own name to the sink every member is started with.

Health: UP when every member is UP with its breaker closed; DOWN when no member could take a message now
(all DOWN or open) - the gateway cannot send at all; DEGRADED in between.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import httpx

from textgate.domain.errors import CarrierError, ErrorKind
from textgate.providers.base import (
    CallbackRequest,
    CallbackResponse,
    Connector,
    Deferred,
    Health,
    OutboundMessage,
    Partial,
    ReportSink,
    SubmitOutcome,
    Submitted,
    Unknown,
)
from textgate.providers.metrics import count_answers
from textgate.routing.breaker import BreakerState, CircuitBreaker
from textgate.routing.config import RateLimits, RouteSpec
from textgate.routing.ratelimit import Bucket, SharedBuckets
from textgate.routing.strategies import Order, make_order
from textgate.store.db import run_sync

log = logging.getLogger(__name__)

#: While a member's breaker waits for its trial, capacity() offers the trial to one claim this often.
TRIAL_CLAIM_SECONDS = 1.0


class FailoverPolicy:
    """Does a retryable failure prove the carrier did NOT take the message (so another may)?

    Read from the error, never its text, in this order: an explicit ``sent`` in the error's context (a
    connector that knows says so: ``sent=False`` / ``sent=True``); the kind; what caused it (the exception
    the connector raised it ``from``); the carrier's own answer in the context.
    """

    #: Kinds that are a refusal by definition: the carrier answered "not now" (throttled, queue full) or
    #: "not with this account" - it did not keep the message.
    UNACCEPTED_KINDS: ClassVar[frozenset[ErrorKind]] = frozenset(
        {
            ErrorKind.THROTTLED,
            ErrorKind.INSUFFICIENT_CREDITS,
            ErrorKind.AUTHENTICATION,
            ErrorKind.PERMISSION_DENIED,
        }
    )
    #: Permanent refusals that are about our account at the carrier, not about the message: they count
    #: against the carrier's breaker and the message may go to another member.
    ACCOUNT_KINDS: ClassVar[frozenset[ErrorKind]] = frozenset(
        {ErrorKind.AUTHENTICATION, ErrorKind.PERMISSION_DENIED, ErrorKind.INSUFFICIENT_CREDITS}
    )

    @classmethod
    def about_carrier(cls, error: CarrierError) -> bool:
        """A failure of the carrier path (retryable, or our account there), rather than of the message."""
        return error.retryable or error.kind in cls.ACCOUNT_KINDS

    #: Causes that mean the request never reached the carrier (nothing connected).
    UNSENT_CAUSES: ClassVar[tuple[type[BaseException], ...]] = (
        ConnectionRefusedError,
        httpx.ConnectError,
        httpx.ConnectTimeout,
        httpx.PoolTimeout,
    )
    #: Context keys that carry the carrier's own answer to the submission, and which answers are a refusal:
    #: any SMPP submit_sm_resp error status; HTTP 4xx and 503 (500/502/504 may come after it kept it).
    ANSWER_REFUSES: ClassVar[Mapping[str, Any]] = {
        "command_status": lambda status: isinstance(status, int) and status != 0,
        "status": lambda status: isinstance(status, int) and (400 <= status < 500 or status == 503),
    }

    @classmethod
    def unreachable(cls, error: CarrierError) -> bool:
        """No carrier answered at all (nothing connected): the path is down, the message was not refused."""
        if any(key in error.context for key in cls.ANSWER_REFUSES):
            return False
        return error.context.get("sent") is False or isinstance(error.__cause__, cls.UNSENT_CAUSES)

    @classmethod
    def unaccepted(cls, error: CarrierError) -> bool:
        sent = error.context.get("sent")
        if isinstance(sent, bool):
            return not sent
        if error.kind in cls.UNACCEPTED_KINDS:
            return True
        if isinstance(error.__cause__, cls.UNSENT_CAUSES):
            return True
        return any(
            key in error.context and check(error.context[key]) for key, check in cls.ANSWER_REFUSES.items()
        )


@dataclass
class Member:
    """A connector in the router, with its breaker."""

    connector: Connector
    type: str
    breaker: CircuitBreaker
    #: Whether the connector has reported itself up since it started: before that (an SMPP connector not
    #: bound yet) DOWN is not an outage, and must not make the first message a breaker trial.
    seen_up: bool = False
    #: When capacity() last offered this member's breaker trial to a dispatcher (monotonic seconds).
    trial_offered: float = -1e9

    @property
    def name(self) -> str:
        return self.connector.name

    def view(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "health": self.connector.health().value,
            "breaker": self.breaker.view(),
        }


@dataclass
class Route:
    spec: RouteSpec
    members: list[Member]
    order: Order = field(init=False)
    bucket: Bucket | None = field(init=False)

    def __post_init__(self) -> None:
        s = self.spec
        self.order = make_order(s.strategy, len(self.members), s.weights)
        self.bucket = Bucket(f"route:{s.name}", s.rate, s.burst or s.rate) if s.rate is not None else None

    def candidates(self, pinned: str | None = None) -> list[Member]:
        if pinned is not None:
            stuck = [m for m in self.members if m.name == pinned]
            if stuck:
                return stuck
        return [self.members[i] for i in self.order.next_order()]


@dataclass
class _Pending:
    index: int
    message: OutboundMessage
    route: Route
    candidates: list[Member]
    last_error: CarrierError | None = None


class Router(Connector):
    def __init__(
        self,
        members: Sequence[Member],
        routes: Sequence[RouteSpec],
        *,
        buckets: SharedBuckets | None = None,
        rate_limits: RateLimits | None = None,
        name: str = "router",
    ) -> None:
        self.name = name
        self.members: dict[str, Member] = {m.name: m for m in members}
        self.routes = [Route(spec, [self.members[n] for n in spec.connectors]) for spec in routes]
        self.rate_limits = rate_limits or RateLimits()
        self.buckets = buckets
        if self.buckets is None and self._limited():
            raise ValueError("rate limits need shared buckets (a database)")

    def _limited(self) -> bool:
        rl = self.rate_limits
        return (
            any(r.bucket is not None for r in self.routes) or rl.per_account is not None or bool(rl.accounts)
        )

    # -- life -------------------------------------------------------------------------------------------
    async def start(self, sink: ReportSink) -> None:
        await asyncio.gather(*(m.connector.start(sink) for m in self.members.values()))

    async def stop(self) -> None:
        results = await asyncio.gather(
            *(m.connector.stop() for m in self.members.values()), return_exceptions=True
        )
        for member, result in zip(self.members.values(), results, strict=True):
            if isinstance(result, BaseException):
                log.error("connector %s did not stop cleanly: %r", member.name, result)

    def recorded(self) -> None:
        for member in self.members.values():
            member.connector.recorded()

    def capacity(self) -> int | None:
        """What the members that could be tried now can take (0: none could, so nothing is claimed)."""
        total = 0
        for member in self.members.values():
            health = member.connector.health()
            if health is not Health.DOWN:
                member.seen_up = True
            elif member.seen_up:
                member.breaker.observe(health)
            if not member.breaker.would_allow(health):
                continue
            room = member.connector.capacity()
            if member.breaker.state is not BreakerState.CLOSED:
                # Only its trial may go: one message (the oldest) for one dispatcher, not a batch that would
                # wait behind the trial and come back out of order.
                now = time.monotonic()
                if now - member.trial_offered >= TRIAL_CLAIM_SECONDS:
                    member.trial_offered = now
                    total += 1 if room is None else min(1, room)
                continue
            if room is None:
                return None
            total += room
        return total

    def round_seconds(self) -> float:
        return max((m.connector.round_seconds() for m in self.members.values()), default=0.0)

    def health(self) -> Health:
        usable = [m for m in self.members.values() if self._usable(m)]
        if not usable:
            return Health.DOWN
        if len(usable) == len(self.members) and all(
            m.connector.health() is Health.UP for m in self.members.values()
        ):
            return Health.UP
        return Health.DEGRADED

    @staticmethod
    def _usable(member: Member) -> bool:
        b = member.breaker
        if member.connector.health() is Health.DOWN:
            return False
        return b.state is not BreakerState.OPEN or b.opened_by_health or b.retry_in() == 0

    def view(self) -> dict[str, Any]:
        """Routes and members with live health and breaker states (for /healthz and ``routes list``)."""
        return {
            "routes": [r.spec.view() for r in self.routes],
            "connectors": [m.view() for m in self.members.values()],
        }

    async def callback(self, request: CallbackRequest) -> CallbackResponse:
        return CallbackResponse(404, "call back a member connector at /callbacks/{its name}")

    # -- submitting -------------------------------------------------------------------------------------
    async def submit(self, message: OutboundMessage) -> str:
        (outcome,) = await self.submit_many([message])
        if isinstance(outcome, CarrierError):
            raise outcome
        if isinstance(outcome, Deferred | Unknown):
            raise CarrierError(f"not taken now: {outcome.reason}", kind=ErrorKind.THROTTLED, retryable=True)
        if isinstance(outcome, Partial):
            raise CarrierError("only some parts were taken", kind=ErrorKind.PROVIDER_ERROR, retryable=True)
        return outcome.carrier_id if isinstance(outcome, Submitted) else outcome

    def route_for(self, message: OutboundMessage) -> Route | None:
        return next((r for r in self.routes if r.spec.rules.matches(message)), None)

    async def submit_many(self, messages: list[OutboundMessage]) -> list[SubmitOutcome]:
        outcomes: list[SubmitOutcome | None] = [None] * len(messages)
        routed: list[tuple[int, Route]] = []
        for i, m in enumerate(messages):
            route = self.route_for(m)
            if route is None:
                outcomes[i] = CarrierError(
                    f"no route matches this message (to {m.to_addr}, from {m.from_addr})",
                    kind=ErrorKind.ROUTING_ERROR,
                    retryable=False,
                )
            else:
                routed.append((i, route))
        routed = await self._admit(messages, routed, outcomes)
        pending = [
            _Pending(i, messages[i], route, route.candidates(messages[i].pinned)) for i, route in routed
        ]
        while pending:
            pending = await self._submit_round(pending, outcomes)
        assert all(o is not None for o in outcomes)
        return [o for o in outcomes if o is not None]

    async def _admit(
        self,
        messages: list[OutboundMessage],
        routed: list[tuple[int, Route]],
        outcomes: list[SubmitOutcome | None],
    ) -> list[tuple[int, Route]]:
        """Take rate-limit tokens; the messages without one are deferred. The rest, to send now."""
        if self.buckets is None or not routed:
            return routed
        wants = [(self._account_bucket(messages[i].account_id), route.bucket) for i, route in routed]
        if all(a is None and r is None for a, r in wants):
            return routed
        waits = await run_sync(self.buckets.engine, self.buckets.admit, wants)
        go: list[tuple[int, Route]] = []
        for (i, route), wait in zip(routed, waits, strict=True):
            if wait is None:
                go.append((i, route))
            else:
                outcomes[i] = Deferred(wait, reason=f"rate limit of route {route.spec.name} or the account")
        return go

    def _account_bucket(self, account_id: str) -> Bucket | None:
        rate = self.rate_limits.for_account(account_id)
        if rate is None:
            return None
        return Bucket(f"account:{account_id}", rate, self.rate_limits.burst or max(1.0, rate))

    async def _submit_round(
        self, pending: list[_Pending], outcomes: list[SubmitOutcome | None]
    ) -> list[_Pending]:
        """Give each pending message to its next available member; those to try on another are returned."""
        groups: dict[str, list[_Pending]] = {}
        for p in pending:
            member = self._next_member(p)
            if member is None:
                if p.last_error is not None:
                    outcomes[p.index] = self._unreachable(p.route, p.last_error)
                else:
                    outcomes[p.index] = self._unavailable(p.route)
            else:
                groups.setdefault(member.name, []).append(p)
        names = list(groups)
        results = await asyncio.gather(
            *(self._call(self.members[n], [p.message for p in groups[n]]) for n in names)
        )
        again: list[_Pending] = []
        for name, answers in zip(names, results, strict=True):
            member = self.members[name]
            for p, answer in zip(groups[name], answers, strict=True):
                if isinstance(answer, Partial):
                    answer = Partial(
                        answer.accepted, answer.unknown, answer.total, answer.rest, connector=name
                    )
                    if answer.accepted:
                        member.breaker.succeeded()
                    elif isinstance(answer.rest, Unknown):
                        member.breaker.failed()
                    else:
                        member.breaker.released()
                    outcomes[p.index] = answer
                elif isinstance(answer, CarrierError) and answer.kind is ErrorKind.THROTTLED:
                    member.breaker.released()  # flow control: neither a failure nor a success
                    if p.candidates:
                        p.last_error = answer
                        again.append(p)
                        continue
                    outcomes[p.index] = answer
                elif isinstance(answer, CarrierError) and FailoverPolicy.about_carrier(answer):
                    member.breaker.failed()
                    if FailoverPolicy.unaccepted(answer) and p.candidates:
                        p.last_error = answer
                        again.append(p)
                        continue
                    outcomes[p.index] = self._unreachable(p.route, answer)
                elif isinstance(answer, Deferred):
                    member.breaker.released()
                    if p.candidates:
                        again.append(p)
                        continue
                    outcomes[p.index] = answer
                elif isinstance(answer, Unknown):
                    member.breaker.failed()
                    outcomes[p.index] = Unknown(answer.seconds, answer.reason, connector=name)
                elif isinstance(answer, CarrierError):
                    outcomes[p.index] = answer
                else:
                    member.breaker.succeeded()
                    outcomes[p.index] = Submitted(answer, name) if isinstance(answer, str) else answer
        return again

    @staticmethod
    def _unreachable(route: Route, error: CarrierError) -> SubmitOutcome:
        """A carrier path that did not answer at all is a wait, not a refusal of the message."""
        if FailoverPolicy.unreachable(error):
            return Deferred(_wait(route), f"no connector could take the message now: {error.message}")
        return error

    def _next_member(self, p: _Pending) -> Member | None:
        while p.candidates:
            member = p.candidates.pop(0)
            if member.breaker.allow(member.connector.health()):
                return member
        return None

    @staticmethod
    async def _call(member: Member, batch: list[OutboundMessage]) -> list[SubmitOutcome]:
        try:
            answers = await member.connector.submit_many(batch)
            if len(answers) != len(batch):
                raise RuntimeError(f"{len(answers)} outcomes for {len(batch)} messages")
        except Exception as exc:  # a member's bug: it may have sent some, so no failover (ambiguous)
            log.exception("connector %s failed on a batch", member.name)
            err = CarrierError(f"connector {member.name} failed: {exc!r}", kind=ErrorKind.PLATFORM_ERROR)
            answers = [err] * len(batch)
        count_answers(member.name, answers)
        return answers

    def _unavailable(self, route: Route) -> Deferred:
        states = ", ".join(
            f"{m.name}: {'down' if m.connector.health() is Health.DOWN else m.breaker.state.value}"
            for m in route.members
        )
        return Deferred(
            _wait(route), f"route {route.spec.name}: no connector can take the message now ({states})"
        )


def _wait(route: Route) -> float:
    """Until a member of the route may be tried again (its breaker half-opens), 1 to 30 seconds."""
    soonest = min((m.breaker.retry_in() for m in route.members), default=1.0)
    return min(30.0, max(1.0, soonest)) * (0.9 + random.random() / 5)
