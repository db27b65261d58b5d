"""How a route spreads messages over its members."""

from __future__ import annotations

import asyncio
from collections import Counter

from tests.routing.fakes import FakeConnector, member, message, throttled
from textgate.providers.base import Submitted
from textgate.routing.config import RouteSpec, Strategy
from textgate.routing.router import Router
from textgate.routing.strategies import RoundRobinOrder, WeightedOrder


def takers(
    strategy: Strategy, n: int, weights: tuple[float, ...] | None = None, **scripts: object
) -> Counter[str]:
    fakes = [FakeConnector(name, scripts.get(name)) for name in ("a", "b", "c")]  # type: ignore[arg-type]
    router = Router(
        [member(f, threshold=10**6) for f in fakes], [RouteSpec("r", ("a", "b", "c"), strategy, weights)]
    )
    outcomes = asyncio.run(router.submit_many([message() for _ in range(n)]))
    assert all(isinstance(o, Submitted) for o in outcomes)
    return Counter(o.connector for o in outcomes if isinstance(o, Submitted))


def test_failover_sends_everything_to_the_primary() -> None:
    assert takers(Strategy.FAILOVER, 30) == {"a": 30}


def test_round_robin_turns_evenly() -> None:
    assert takers(Strategy.ROUND_ROBIN, 30) == {"a": 10, "b": 10, "c": 10}
    order = RoundRobinOrder(3)
    assert [order.next_order() for _ in range(4)] == [[0, 1, 2], [1, 2, 0], [2, 0, 1], [0, 1, 2]]


def test_weighted_splits_by_weight_exactly_and_spread_out() -> None:
    assert takers(Strategy.WEIGHTED, 600, (3, 2, 1)) == {"a": 300, "b": 200, "c": 100}
    order = WeightedOrder([5, 1, 1])
    firsts = [order.next_order()[0] for _ in range(7)]
    assert Counter(firsts) == {0: 5, 1: 1, 2: 1}
    assert firsts != [0, 0, 0, 0, 0, 1, 2]  # smooth: not in a burst
    assert order.next_order()[1:] in ([1, 2], [0, 2], [0, 1])  # failover follows the configured order


def test_round_robin_fails_over_around_the_ring() -> None:
    # "b" throttles everything: its turns go on to "c".
    counts = takers(Strategy.ROUND_ROBIN, 30, b=lambda m: throttled())
    assert counts == {"a": 10, "c": 20}
