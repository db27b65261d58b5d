"""The per-bind rate controller, driven with made-up times (no sockets, no sleeping)."""

from __future__ import annotations

import random

import pytest

from textgate.providers.smpp.pacing import Pacer


def drive(pacer: Pacer, seconds: float, smsc: object, *, start: float = 0.0) -> tuple[int, int]:
    """Submit as fast as the pacer allows (window permitting 2,000/s) against ``smsc(now) -> accepted?``;
    returns (accepted, throttled)."""
    now = start
    accepted = throttled = 0
    step = 1 / 2000
    while now < start + seconds:
        wait = pacer.delay(now)
        if wait > 0:
            now += wait
            continue
        pacer.sent(now)
        if smsc(now):  # type: ignore[operator]
            pacer.accepted(now)
            accepted += 1
        else:
            pacer.throttled(now)
            throttled += 1
        now += step
    return accepted, throttled


class RateLimited:
    """An SMSC that takes at most ``tps`` submits in any one-second window and throttles the rest."""

    def __init__(self, tps: int) -> None:
        self.tps = tps
        self.times: list[float] = []

    def __call__(self, now: float) -> bool:
        self.times = [t for t in self.times if now - t < 1.0]
        if len(self.times) >= self.tps:
            return False
        self.times.append(now)
        return True


def test_unlimited_until_the_first_throttle() -> None:
    pacer = Pacer()
    assert pacer.rate(0.0) is None
    assert pacer.delay(0.0) == 0.0
    for i in range(100):
        pacer.sent(i / 1000)
        pacer.accepted(i / 1000)
    assert pacer.rate(0.1) is None


def test_settles_at_a_rate_limited_smscs_limit() -> None:
    smsc = RateLimited(200)
    pacer = Pacer()
    drive(pacer, 5.0, smsc)  # it learns
    accepted, throttled = drive(pacer, 20.0, smsc, start=5.0)
    rate = accepted / 20.0
    assert 170 <= rate <= 200, rate  # at the limit, less the drain intervals
    assert throttled / (accepted + throttled) < 0.10  # few submits wasted once it has learnt


def test_random_throttles_do_not_drag_the_rate_down() -> None:
    rng = random.Random(7)

    def one_in_seven(now: float) -> bool:
        return rng.random() >= 1 / 7

    pacer = Pacer()
    accepted, _ = drive(pacer, 30.0, one_in_seven)
    late, _ = drive(pacer, 10.0, one_in_seven, start=30.0)
    # Throttles that come whatever the rate must not shrink it step by step: the second stretch runs at
    # least as fast as the whole first one did (a halving controller would collapse to the floor).
    assert late / 10.0 >= 0.9 * accepted / 30.0
    assert late / 10.0 > 100


def test_recovers_when_throttles_stop() -> None:
    pacer = Pacer(recover=5.0)
    pacer.sent(0.0)
    pacer.throttled(0.0)
    assert pacer.rate(0.1) is not None
    assert pacer.rate(4.9) is not None
    assert pacer.rate(5.1) is None  # five quiet seconds: full speed again


def test_never_below_the_floor() -> None:
    pacer = Pacer(floor=2.0)
    for i in range(50):
        pacer.sent(i * 0.1)
        pacer.throttled(i * 0.1)  # the SMSC takes nothing
    rate = pacer.rate(5.0)
    assert rate is not None and rate >= 2.0


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError):
        Pacer(interval=0)
    with pytest.raises(ValueError):
        Pacer(floor=0)
