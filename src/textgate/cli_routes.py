"""``textgate routes list``: the routes as configured, with each connector's live health.

The routes, rules and strategies come from this machine's configuration (``TEXTGATE_CONFIG``, checked as
``serve`` checks it); the health and circuit-breaker state of each connector come from the running
gateway's ``/healthz`` (``--url`` or ``TEXTGATE_URL``; no API key needed). When the gateway cannot be
reached the configuration is still shown, with ``unknown`` health.
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


def _live(url: str) -> tuple[bool, dict[str, dict[str, Any]]]:
    """Whether the gateway answered, and per connector name its health and breaker."""
    try:
        response = httpx.get(f"{url.rstrip('/')}/healthz", timeout=5)
        body = response.json()
    except (httpx.HTTPError, ValueError):
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

    try:
        config = load_routing(Settings())
    except RoutingConfigError as exc:
        fail(f"configuration: {escape(str(exc))}")  # "[[routes]]" is not rich markup
    reachable, live = _live(url)
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
        "routes": [route.view() for route in config.routes],
        "connectors": connectors,
        "rate_limits": {
            "per_account": config.rate_limits.per_account,
            "accounts": dict(config.rate_limits.accounts),
        },
    }


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
