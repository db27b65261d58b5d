"""The routing configuration: ``[[connectors]]``, ``[[routes]]`` and ``[rate_limits]``, checked up front.

Everything a gateway will route by is read and checked here, once, before anything starts: a mistake in
the TOML file (a route naming a connector that does not exist, an unknown ``type``, a misspelt key) stops
``textgate serve`` with one message naming the table and the key, rather than surfacing as failed
messages later. The connector types' own keys are checked by their factories (see
:mod:`textgate.routing.registry`); the keys listed in :data:`CONNECTOR_KEYS` belong to the router and are
taken out of the table before it reaches the factory, except ``name`` and ``type``, which every factory
gets.

Without ``[[routes]]`` every configured connector serves one route, ``default``, in the order listed
(failover). Without ``[[connectors]]`` the built-in simulator (named ``simulator``, set up by the
``[simulator]`` table) is the one connector, and routes may name it. See docs/routing.md.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from textgate.routing.rules import RouteRules

SIMULATOR = "simulator"
DEFAULT_ROUTE = "default"

#: Keys of a ``[[connectors]]`` table that the router reads (the rest go to the type's factory).
CONNECTOR_KEYS = frozenset({"name", "type", "failure_threshold", "cooldown"})
#: Keys of a ``[[routes]]`` table besides its rules (:data:`textgate.routing.rules.RULE_KEYS`).
ROUTE_KEYS = frozenset({"name", "connectors", "strategy", "weights", "rate", "burst"})
#: Keys of the ``[rate_limits]`` table.
RATE_LIMIT_KEYS = frozenset({"per_account", "burst", "accounts"})

DEFAULT_FAILURE_THRESHOLD = 5
DEFAULT_COOLDOWN = 30.0

# A connector's name is part of a URL (/callbacks/{name}) and is stored with every message it takes.
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class RoutingConfigError(ValueError):
    """A configuration mistake; the message names the table (``[[routes]] "uk"``) and the key."""


class Strategy(StrEnum):
    FAILOVER = "failover"
    ROUND_ROBIN = "round_robin"
    WEIGHTED = "weighted"


@dataclass(frozen=True, slots=True)
class ConnectorSpec:
    name: str
    type: str
    #: The table for the type's factory: ``name``, ``type`` and the type's own keys.
    table: Mapping[str, Any]
    failure_threshold: int = DEFAULT_FAILURE_THRESHOLD
    cooldown: float = DEFAULT_COOLDOWN


@dataclass(frozen=True, slots=True)
class RouteSpec:
    name: str
    connectors: tuple[str, ...]
    strategy: Strategy = Strategy.FAILOVER
    weights: tuple[float, ...] | None = None
    #: Messages per second over every gateway node sharing the database (None: no limit).
    rate: float | None = None
    burst: float | None = None
    rules: RouteRules = field(default_factory=RouteRules)

    def view(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "rules": self.rules.view(),
            "strategy": self.strategy.value,
            "connectors": list(self.connectors),
        }
        if self.weights is not None:
            out["weights"] = list(self.weights)
        if self.rate is not None:
            out["rate"] = self.rate
            out["burst"] = self.burst
        return out


@dataclass(frozen=True, slots=True)
class RateLimits:
    """Per-account limits, whatever the route: ``per_account`` for every account, ``accounts`` by id."""

    per_account: float | None = None
    burst: float | None = None
    accounts: Mapping[str, float] = field(default_factory=dict)

    def for_account(self, account_id: str) -> float | None:
        return self.accounts.get(account_id, self.per_account)


@dataclass(frozen=True, slots=True)
class RoutingConfig:
    connectors: tuple[ConnectorSpec, ...]
    routes: tuple[RouteSpec, ...]
    rate_limits: RateLimits = field(default_factory=RateLimits)
    #: True when no ``[[connectors]]`` were configured: the bare simulator serves everything.
    implicit_simulator: bool = False

    @property
    def plain(self) -> bool:
        """Nothing to route: the simulator alone, one catch-all route, no rate limit."""
        return (
            self.implicit_simulator
            and len(self.routes) == 1
            and not self.routes[0].rules
            and self.routes[0].rate is None
            and self.rate_limits.per_account is None
            and not self.rate_limits.accounts
        )


# -- parsing ------------------------------------------------------------------------------------------
def _where(kind: str, index: int, table: Mapping[str, Any]) -> str:
    name = table.get("name")
    return f'[[{kind}]] "{name}"' if isinstance(name, str) and name else f"[[{kind}]] #{index + 1}"


def _number(where: str, key: str, value: Any, *, minimum: float = 0.0, strict: bool = True) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise RoutingConfigError(f"{where}: {key} must be a number, not {value!r}")
    if value < minimum or (strict and value == minimum):
        bound = f"more than {minimum:g}" if strict else f"at least {minimum:g}"
        raise RoutingConfigError(f"{where}: {key} must be {bound}, not {value!r}")
    return float(value)


def _unknown(where: str, table: Mapping[str, Any], allowed: frozenset[str]) -> None:
    extra = sorted(set(table) - allowed)
    if extra:
        raise RoutingConfigError(
            f"{where}: unknown key{'s' if len(extra) > 1 else ''} {', '.join(extra)} "
            f"(allowed: {', '.join(sorted(allowed))})"
        )


def _connector(index: int, table: Any, known_types: Sequence[str]) -> ConnectorSpec:
    where = f"[[connectors]] #{index + 1}"
    if not isinstance(table, Mapping):
        raise RoutingConfigError(f"{where} must be a table")
    where = _where("connectors", index, table)
    name, type_ = table.get("name"), table.get("type")
    if not isinstance(name, str) or not _NAME.match(name):
        raise RoutingConfigError(
            f"{where}: name is required: 1-64 letters, digits, '_', '.' or '-', "
            "starting with a letter or digit"
        )
    if not isinstance(type_, str) or type_ not in known_types:
        raise RoutingConfigError(
            f"{where}: type must be one of {', '.join(sorted(known_types))}, not {type_!r}"
        )
    threshold = table.get("failure_threshold", DEFAULT_FAILURE_THRESHOLD)
    if isinstance(threshold, bool) or not isinstance(threshold, int) or threshold < 1:
        raise RoutingConfigError(f"{where}: failure_threshold must be a whole number of at least 1")
    cooldown = _number(where, "cooldown", table.get("cooldown", DEFAULT_COOLDOWN))
    own = {k: v for k, v in table.items() if k not in CONNECTOR_KEYS or k in ("name", "type")}
    return ConnectorSpec(name, type_, own, failure_threshold=threshold, cooldown=cooldown)


def _route(index: int, table: Any, connectors: Mapping[str, ConnectorSpec]) -> RouteSpec:
    where = f"[[routes]] #{index + 1}"
    if not isinstance(table, Mapping):
        raise RoutingConfigError(f"{where} must be a table")
    where = _where("routes", index, table)
    _unknown(where, table, ROUTE_KEYS | RouteRules.KEYS)
    name = table.get("name")
    if not isinstance(name, str) or not name.strip():
        raise RoutingConfigError(f"{where}: name is required")
    members = table.get("connectors")
    if not isinstance(members, list) or not members or not all(isinstance(m, str) for m in members):
        raise RoutingConfigError(f"{where}: connectors must be a non-empty list of connector names")
    for member in members:
        if member not in connectors:
            raise RoutingConfigError(
                f"{where}: connectors names {member!r}, which is not a configured connector "
                f"(configured: {', '.join(connectors)})"
            )
    if len(set(members)) != len(members):
        raise RoutingConfigError(f"{where}: connectors lists a connector twice")
    try:
        strategy = Strategy(table.get("strategy", Strategy.FAILOVER.value))
    except ValueError:
        raise RoutingConfigError(
            f"{where}: strategy must be one of {', '.join(s.value for s in Strategy)}, "
            f"not {table.get('strategy')!r}"
        ) from None
    weights: tuple[float, ...] | None = None
    if strategy is Strategy.WEIGHTED:
        raw = table.get("weights")
        if not isinstance(raw, list) or len(raw) != len(members):
            raise RoutingConfigError(
                f"{where}: weights must list one number per connector ({len(members)}) with strategy weighted"
            )
        weights = tuple(_number(where, "weights", w) for w in raw)
    elif "weights" in table:
        raise RoutingConfigError(f'{where}: weights is only for strategy = "weighted"')
    rate = _number(where, "rate", table["rate"]) if "rate" in table else None
    burst = _number(where, "burst", table["burst"], minimum=1.0, strict=False) if "burst" in table else None
    if burst is not None and rate is None:
        raise RoutingConfigError(f"{where}: burst needs a rate")
    try:
        rules = RouteRules.parse(table)
    except ValueError as exc:
        raise RoutingConfigError(f"{where}: {exc}") from None
    return RouteSpec(
        name=name,
        connectors=tuple(members),
        strategy=strategy,
        weights=weights,
        rate=rate,
        burst=(burst or max(1.0, rate)) if rate is not None else None,
        rules=rules,
    )


def _rate_limits(table: Any) -> RateLimits:
    where = "[rate_limits]"
    if not table:
        return RateLimits()
    if not isinstance(table, Mapping):
        raise RoutingConfigError(f"{where} must be a table")
    _unknown(where, table, RATE_LIMIT_KEYS)
    per_account = _number(where, "per_account", table["per_account"]) if "per_account" in table else None
    burst = _number(where, "burst", table["burst"], minimum=1.0, strict=False) if "burst" in table else None
    accounts_raw = table.get("accounts", {})
    if not isinstance(accounts_raw, Mapping):
        raise RoutingConfigError(f"{where}: accounts must be a table of account id = messages per second")
    accounts = {str(k): _number(where, f"accounts.{k}", v) for k, v in accounts_raw.items()}
    return RateLimits(per_account=per_account, burst=burst, accounts=accounts)


def parse_routing(
    connectors: Sequence[Any],
    routes: Sequence[Any],
    rate_limits: Mapping[str, Any] | None,
    known_types: Sequence[str],
    simulator: Mapping[str, Any] | None = None,
) -> RoutingConfig:
    """Check and read the tables; raises :class:`RoutingConfigError` naming the table and key."""
    implicit = not connectors
    specs: list[ConnectorSpec]
    if implicit:
        table = {"name": SIMULATOR, "type": SIMULATOR, **dict(simulator or {})}
        specs = [ConnectorSpec(SIMULATOR, SIMULATOR, table)]
    else:
        specs = [_connector(i, t, known_types) for i, t in enumerate(connectors)]
    by_name: dict[str, ConnectorSpec] = {}
    for spec in specs:
        if spec.name in by_name:
            raise RoutingConfigError(f'[[connectors]] "{spec.name}": name is used by two connectors')
        by_name[spec.name] = spec
    if routes:
        parsed = [_route(i, t, by_name) for i, t in enumerate(routes)]
    else:
        parsed = [RouteSpec(DEFAULT_ROUTE, tuple(by_name))]
    seen: set[str] = set()
    for route in parsed:
        if route.name in seen:
            raise RoutingConfigError(f'[[routes]] "{route.name}": name is used by two routes')
        seen.add(route.name)
    return RoutingConfig(tuple(specs), tuple(parsed), _rate_limits(rate_limits), implicit_simulator=implicit)
