"""Circuit breaker transitions, on a hand-driven clock."""

from __future__ import annotations

from tests.routing.fakes import Tick
from textgate.providers.base import Health
from textgate.routing.breaker import BreakerState, CircuitBreaker

UP, DOWN = Health.UP, Health.DOWN


def test_failures_in_a_row_open_it_then_one_trial_after_the_cooldown() -> None:
    tick = Tick()
    b = CircuitBreaker(3, 10.0, monotonic=tick)
    b.failed()
    b.failed()
    b.succeeded()  # not in a row
    b.failed()
    b.failed()
    assert b.allow(UP) and b.state is BreakerState.CLOSED
    b.failed()
    assert b.state is BreakerState.OPEN
    assert not b.allow(UP)
    assert b.view() == {"state": "open", "failures": 3, "retry_in": 10.0, "reason": "failures"}
    tick.now += 9.9
    assert not b.allow(UP)
    tick.now += 0.1
    assert b.allow(UP)  # the trial
    assert b.state is BreakerState.HALF_OPEN
    assert not b.allow(UP)  # only one at a time
    b.failed()  # the trial failed: open again, a fresh cooldown
    assert b.state is BreakerState.OPEN and b.retry_in() == 10.0
    tick.now += 10
    assert b.allow(UP)
    b.succeeded()
    assert b.state is BreakerState.CLOSED and b.failures == 0
    assert b.allow(UP) and b.allow(UP)


def test_an_unused_trial_is_given_back() -> None:
    tick = Tick()
    b = CircuitBreaker(1, 5.0, monotonic=tick)
    b.failed()
    tick.now += 5
    assert b.allow(UP)
    b.released()
    assert b.allow(UP)


def test_health_down_opens_it_at_once_and_recovery_half_opens_it_without_waiting() -> None:
    tick = Tick()
    b = CircuitBreaker(5, 30.0, monotonic=tick)
    assert not b.allow(DOWN)
    assert b.view()["reason"] == "health down"
    tick.now += 1
    assert not b.allow(DOWN)
    assert b.allow(Health.DEGRADED)  # back before the cooldown ended: one trial right away
    assert b.state is BreakerState.HALF_OPEN
    assert not b.allow(UP)
    b.succeeded()
    assert b.state is BreakerState.CLOSED


def test_health_down_in_half_open_reopens() -> None:
    tick = Tick()
    b = CircuitBreaker(1, 5.0, monotonic=tick)
    b.failed()
    tick.now += 5
    assert b.allow(UP)
    assert not b.allow(DOWN)
    assert b.state is BreakerState.OPEN


def test_a_connector_still_down_after_the_cooldown_gets_one_trial() -> None:
    # An HTTP upstream learns it is up again only from a send that works: without the trial it would stay
    # shut out for good after an outage or a wrong key.
    tick = Tick()
    b = CircuitBreaker(3, 10.0, monotonic=tick)
    assert not b.allow(DOWN)
    tick.now += 9.9
    assert not b.allow(DOWN)
    tick.now += 0.1
    assert b.allow(DOWN)  # the trial, although the connector still says DOWN
    assert b.state is BreakerState.HALF_OPEN
    assert not b.allow(DOWN)  # nothing else meanwhile
    b.succeeded()
    assert b.state is BreakerState.CLOSED and b.allow(UP)
