"""``textgate routes list``: the routes as configured, with each connector's live health.

The running gateway is asked first (``/healthz`` at ``--url`` or ``TEXTGATE_URL``; no API key needed): its
routes, connectors, health and circuit breakers are what it actually runs, whatever ``TEXTGATE_CONFIG``
says on the machine the command runs on. When the gateway cannot be reached, the routes of this
machine's configuration (``TEXTGATE_CONFIG``, checked as ``serve`` checks it) are shown, with ``unknown``
health; ``source`` in the JSON says which.
"""

from __future__ import annotations

import os
from typing import Annotated, Any

import httpx
import typer
from rich.markup import escape
from rich.table import Table

from textgate.cli import app, emit_json, fail, out
from textgate.config import Settings

routes_app = typer.Typer(help="Routes, their connectors and their health.", no_args_is_help=True)
app.add_typer(routes_app, name="routes")

UNKNOWN = "unknown"


def _health(url: str) -> dict[str, Any] | None:
    try:
        body = httpx.get(f"{url.rstrip('/')}/healthz", timeout=5).json()
    except (httpx.HTTPError, ValueError):
        return None
    return body if isinstance(body, dict) else None


def _live(body: dict[str, Any] | None) -> tuple[bool, dict[str, dict[str, Any]]]:
    """Whether the gateway answered, and per connector name its health and breaker."""
    if body is None:
        return False, {}
    live: dict[str, dict[str, Any]] = {
        name: {"health": health} for name, health in (body.get("connectors") or {}).items()
    }
    for member in (body.get("routing") or {}).get("connectors", []):
        live.setdefault(member["name"], {}).update(health=member["health"], breaker=member["breaker"])
    return True, live


def routes_view(url: str) -> dict[str, Any]:
    from textgate.routing.config import RoutingConfigError
    from textgate.routing.registry import load_routing

    body = _health(url)
    routing = (body or {}).get("routing")
    if routing and routing.get("routes") is not None:  # what the gateway runs
        return {
            "gateway": {"url": url, "reachable": True},
            "source": "gateway",
            "routes": routing["routes"],
            "connectors": [
                {
                    "name": c["name"],
                    "type": c.get("type", UNKNOWN),
                    "health": c["health"],
                    "breaker": c["breaker"],
                }
                for c in routing.get("connectors", [])
            ],
            "rate_limits": _local_rate_limits(),
        }
    try:
        config = load_routing(Settings())
    except RoutingConfigError as exc:
        fail(f"configuration: {escape(str(exc))}")  # "[[routes]]" is not rich markup
    reachable, live = _live(body)
    connectors = [
        {
            "name": spec.name,
            "type": spec.type,
            "health": live.get(spec.name, {}).get("health", UNKNOWN),
            "breaker": live.get(spec.name, {}).get("breaker", {"state": UNKNOWN}),
        }
        for spec in config.connectors
    ]
    return {
        "gateway": {"url": url, "reachable": reachable},
        "source": "configuration",
        "routes": [route.view() for route in config.routes],
        "connectors": connectors,
        "rate_limits": {
            "per_account": config.rate_limits.per_account,
            "accounts": dict(config.rate_limits.accounts),
        },
    }


def _local_rate_limits() -> dict[str, Any] | None:
    """Rate limits from this machine's configuration (the gateway's health does not list them)."""
    from textgate.routing.config import RoutingConfigError
    from textgate.routing.registry import load_routing

    try:
        limits = load_routing(Settings()).rate_limits
    except RoutingConfigError:
        return None
    return {"per_account": limits.per_account, "accounts": dict(limits.accounts)}


def _rules_text(rules: dict[str, list[str]]) -> str:
    return "; ".join(f"{key} {', '.join(values)}" for key, values in rules.items()) or "everything"


@routes_app.command("list")
def routes_list(
    url: Annotated[
        str | None, typer.Option(help="The running gateway (default: TEXTGATE_URL or http://127.0.0.1:8080).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Routes in the order they are tried, and each connector's live health.

    Example: TEXTGATE_CONFIG=textgate.toml textgate routes list --url http://127.0.0.1:8080
    """
    view = routes_view(url or os.environ.get("TEXTGATE_URL", "http://127.0.0.1:8080"))
    if as_json:
        emit_json(view)
        return
    by_name = {c["name"]: c for c in view["connectors"]}
    routes = Table("route", "matches", "strategy", "connectors", "rate/s", title="routes (first match wins)")
    for r in view["routes"]:
        weights = r.get("weights")
        members = [
            f"{name}{f' ×{weights[i]:g}' if weights else ''} ({by_name[name]['health']})"
            for i, name in enumerate(r["connectors"])
        ]
        routes.add_row(
            r["name"], _rules_text(r["rules"]), r["strategy"], ", ".join(members), str(r.get("rate") or "")
        )
    out.print(routes)
    connectors = Table("connector", "type", "health", "breaker", title="connectors")
    for c in view["connectors"]:
        breaker = c["breaker"]
        state = breaker["state"]
        if state == "open":
            state = f"open ({breaker.get('reason', '')}, retry in {breaker.get('retry_in', 0):g} s)"
        connectors.add_row(c["name"], c["type"], c["health"], state)
    out.print(connectors)
    if not view["gateway"]["reachable"]:
        out.print(f"the gateway at {view['gateway']['url']} did not answer: health unknown")
