"""Connector types are found, not listed: every ``textgate.providers.<name>.connector`` module that exposes
``CONNECTOR_TYPES`` (``type`` → :data:`~textgate.providers.base.ConnectorFactory`) contributes its types, the
way the provider dialects are found (:mod:`textgate.providers.registry`). A new carrier path is one new
folder; nothing here changes.

:func:`build_connector_from_settings` is what ``textgate serve`` runs: with no ``[[connectors]]`` the
built-in simulator alone, exactly as before routing existed; otherwise a
:class:`~textgate.routing.router.Router` over the configured connectors.
"""

from __future__ import annotations

import functools
import importlib
import pkgutil
from collections.abc import Callable

import textgate.providers
from textgate.config import Settings
from textgate.providers.base import Connector, ConnectorContext, ConnectorFactory
from textgate.routing.breaker import CircuitBreaker
from textgate.routing.config import SIMULATOR, RoutingConfig, RoutingConfigError, parse_routing
from textgate.routing.ratelimit import SharedBuckets
from textgate.routing.router import Member, Router


@functools.cache
def connector_types() -> dict[str, ConnectorFactory]:
    types: dict[str, ConnectorFactory] = {}
    for info in sorted(pkgutil.iter_modules(textgate.providers.__path__), key=lambda i: i.name):
        if not info.ispkg:
            continue
        module_name = f"textgate.providers.{info.name}.connector"
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:
                continue  # a dialect-only provider
            raise
        for type_name, factory in getattr(module, "CONNECTOR_TYPES", {}).items():
            if type_name in types:
                raise RuntimeError(f"connector type {type_name!r} is defined twice ({module_name})")
            types[type_name] = factory
    return types


def load_routing(settings: Settings) -> RoutingConfig:
    """The routing tables of ``settings``, checked; RoutingConfigError names the table and key."""
    return parse_routing(
        settings.connectors,
        settings.routes,
        settings.rate_limits,
        list(connector_types()),
        simulator=settings.simulator,
    )


def build_router(
    config: RoutingConfig,
    ctx: ConnectorContext,
    *,
    builtin: Callable[[], Connector] | None = None,
) -> Router:
    """Build every connector by its type's factory (``builtin`` makes the implicit simulator) and the
    router over them. A factory's ValueError becomes a RoutingConfigError naming the table."""
    types = connector_types()
    members: list[Member] = []
    for spec in config.connectors:
        if config.implicit_simulator and spec.name == SIMULATOR and builtin is not None:
            connector = builtin()
        else:
            try:
                connector = types[spec.type](spec.table, ctx)
            except (ValueError, TypeError, KeyError) as exc:
                detail = str(exc) if not isinstance(exc, KeyError) else f"missing key {exc}"
                raise RoutingConfigError(
                    f'[[connectors]] "{spec.name}" (type {spec.type}): {detail}'
                ) from exc
        if connector.name != spec.name:
            raise RoutingConfigError(
                f'[[connectors]] "{spec.name}": the {spec.type} factory named it {connector.name!r}'
            )
        members.append(Member(connector, spec.type, CircuitBreaker(spec.failure_threshold, spec.cooldown)))
    limited = (
        any(r.rate is not None for r in config.routes)
        or config.rate_limits.per_account is not None
        or bool(config.rate_limits.accounts)
    )
    buckets = SharedBuckets(ctx.engine, ctx.clock) if limited else None
    return Router(members, config.routes, buckets=buckets, rate_limits=config.rate_limits)


def build_connector_from_settings(
    settings: Settings, ctx: ConnectorContext, builtin: Callable[[], Connector]
) -> Connector:
    """What ``serve`` sends through: the bare simulator when nothing is configured, else the router."""
    config = load_routing(settings)
    if config.plain:
        return builtin()
    return build_router(config, ctx, builtin=builtin)
