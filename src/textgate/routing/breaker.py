"""A circuit breaker per connector: stop sending to a connector that is down or keeps failing.

States::

    closed ──(failure_threshold retryable failures in a row, or health DOWN)──▶ open
    open ──(cooldown seconds passed, or the connector reports itself up again)──▶ half_open
    half_open ──(one trial message: accepted)──▶ closed
    half_open ──(the trial fails, or health DOWN)──▶ open (a fresh cooldown)

Only retryable failures count: a permanent refusal (invalid destination) is an answer from a working
carrier. A connector's own health is a second, direct signal: DOWN (an SMPP connector with no bound
session, an upstream refusing our credentials) opens the breaker at once. When such a connector reports
itself up again before the cooldown ends - the SMPP session re-bound - the breaker half-opens right away
rather than keep a working carrier idle; a breaker opened by failures waits out its cooldown, because
those failures were seen while the connector claimed to be fine. A connector still DOWN when the cooldown
ends gets its trial message too: some connectors (the HTTP upstreams) only learn from traffic that the
carrier is back.

State lives in each gateway process: every node learns about a carrier from its own traffic.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from enum import StrEnum
from typing import Any

from textgate.providers.base import Health


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    def __init__(
        self,
        failure_threshold: int = 5,
        cooldown: float = 30.0,
        *,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.failure_threshold = failure_threshold
        self.cooldown = cooldown
        self.monotonic = monotonic
        self.state = BreakerState.CLOSED
        self.failures = 0
        self.opened_at: float | None = None
        self.opened_by_health = False
        self.trial_out = False

    # -- deciding -----------------------------------------------------------------------------------
    def allow(self, health: Health) -> bool:
        """May a message go to this connector now? In half-open, True once (the trial) until it ends."""
        now = self.monotonic()
        if health is Health.DOWN:
            if self.state is not BreakerState.OPEN or not self.opened_by_health:
                self._open(now, by_health=True)
                return False
            assert self.opened_at is not None
            if now - self.opened_at < self.cooldown:
                return False
            # Still DOWN after the cooldown: one trial all the same. A connector that learns only from
            # its own traffic (an HTTP upstream after a 401 or an outage) can never report itself up
            # again without one; an SMPP connector with no session refuses it at once (``sent=False``).
            self.state = BreakerState.HALF_OPEN
            self.trial_out = True
            return True
        if self.state is BreakerState.OPEN:
            assert self.opened_at is not None
            if self.opened_by_health or now - self.opened_at >= self.cooldown:
                self.state = BreakerState.HALF_OPEN
                self.trial_out = False
            else:
                return False
        if self.state is BreakerState.HALF_OPEN:
            if self.trial_out:
                return False
            self.trial_out = True
        return True

    def observe(self, health: Health) -> None:
        """Take in the connector's health without sending anything: DOWN opens the breaker (as
        :meth:`allow` would), so its cooldown runs even while nothing is offered to it."""
        if health is Health.DOWN and (self.state is not BreakerState.OPEN or not self.opened_by_health):
            self._open(self.monotonic(), by_health=True)

    def would_allow(self, health: Health) -> bool:
        """What :meth:`allow` would answer now, without taking a trial (call :meth:`observe` first)."""
        now = self.monotonic()
        cooled = self.opened_at is not None and now - self.opened_at >= self.cooldown
        if health is Health.DOWN:
            return self.state is BreakerState.OPEN and self.opened_by_health and cooled
        if self.state is BreakerState.OPEN:
            return self.opened_by_health or cooled
        if self.state is BreakerState.HALF_OPEN:
            return not self.trial_out
        return True

    # -- learning -----------------------------------------------------------------------------------
    def succeeded(self) -> None:
        self.state = BreakerState.CLOSED
        self.failures = 0
        self.opened_at = None
        self.opened_by_health = False
        self.trial_out = False

    def failed(self) -> None:
        """A retryable failure (refused for now, or no answer)."""
        self.failures += 1
        if self.state is BreakerState.HALF_OPEN or self.failures >= self.failure_threshold:
            self._open(self.monotonic(), by_health=False)

    def released(self) -> None:
        """A trial granted by :meth:`allow` was not used after all (the message went nowhere)."""
        if self.state is BreakerState.HALF_OPEN:
            self.trial_out = False

    def _open(self, now: float, *, by_health: bool) -> None:
        self.state = BreakerState.OPEN
        self.opened_at = now
        self.opened_by_health = by_health
        self.trial_out = False

    # -- showing ------------------------------------------------------------------------------------
    def retry_in(self) -> float:
        """Seconds until an open breaker half-opens (0 when it is not open)."""
        if self.state is not BreakerState.OPEN or self.opened_at is None:
            return 0.0
        return max(0.0, self.cooldown - (self.monotonic() - self.opened_at))

    def view(self) -> dict[str, Any]:
        out: dict[str, Any] = {"state": self.state.value, "failures": self.failures}
        if self.state is BreakerState.OPEN:
            out["retry_in"] = round(self.retry_in(), 3)
            out["reason"] = "health down" if self.opened_by_health else "failures"
        return out
