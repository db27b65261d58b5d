"""In which order a route offers a message to its connectors.

Each strategy answers, per message, the full order of the route's members: the first is where the message
goes, the rest are where it fails over to (in the same round, if the first refuses it without taking it).

* ``failover``: always the order configured - the first is the primary.
* ``round_robin``: the starting member turns by one per message; failover continues around the ring.
* ``weighted``: the starting member is chosen by smooth weighted round robin (the nginx upstream
  algorithm): over any run of messages each member starts a share proportional to its weight, spread
  out rather than in bursts, and deterministically (no random number, so the split is exact and testable).
  Failover continues in the configured order.

Counters live in the process; two nodes each keep their own split, which together is the same split.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Protocol

from textgate.routing.config import Strategy


class Order(Protocol):
    def next_order(self) -> list[int]:
        """Indexes of the route's members, in the order to try them for the next message."""


class FailoverOrder:
    def __init__(self, size: int) -> None:
        self.order = list(range(size))

    def next_order(self) -> list[int]:
        return list(self.order)


class RoundRobinOrder:
    def __init__(self, size: int) -> None:
        self.size = size
        self.turn = itertools.count()

    def next_order(self) -> list[int]:
        start = next(self.turn) % self.size
        return [(start + k) % self.size for k in range(self.size)]


class WeightedOrder:
    def __init__(self, weights: Sequence[float]) -> None:
        self.weights = list(weights)
        self.total = sum(self.weights)
        self.current = [0.0] * len(self.weights)

    def next_order(self) -> list[int]:
        for i, w in enumerate(self.weights):
            self.current[i] += w
        first = max(range(len(self.weights)), key=lambda i: self.current[i])
        self.current[first] -= self.total
        return [first, *(i for i in range(len(self.weights)) if i != first)]


def make_order(strategy: Strategy, size: int, weights: Sequence[float] | None = None) -> Order:
    if strategy is Strategy.ROUND_ROBIN:
        return RoundRobinOrder(size)
    if strategy is Strategy.WEIGHTED:
        assert weights is not None and len(weights) == size
        return WeightedOrder(weights)
    return FailoverOrder(size)
