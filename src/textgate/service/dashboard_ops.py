"""What the dashboard shows operators about the running gateway, and a message's webhook deliveries.

* **Connector health** (:func:`connector_health`) is read from the running gateway itself
  (``app.state.gateway``), as ``/healthz`` and so ``textgate routes list --url`` read it: each connector's
  own health (up, degraded, down) and, with routing, its circuit breaker, and the routes in the order they
  are tried. Nothing is stored for it. A process that does not run the connectors (``serve`` with its
  workers off) has no live state to show and says so. One of the API processes of
  ``TEXTGATE_API_PROCESSES`` asks the ``serve`` process that runs them, through its ``/healthz``
  (:func:`health_from_healthz`).
* **Webhook deliveries of a message** (:func:`message_deliveries`): every delivery queued for the
  message (``order_key`` is the message id) to the account's endpoints, deleted ones included (they are
  the message's history), with each attempt.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, select

from textgate.domain.clock import isoformat
from textgate.providers.base import Health
from textgate.store.schema import webhook_attempts, webhook_deliveries, webhook_endpoints

__all__ = ["DELIVERIES_MAX", "connector_health", "health_from_healthz", "message_deliveries"]

#: Deliveries listed on a message's page at most (the oldest first).
DELIVERIES_MAX = 50
UNKNOWN = "unknown"


def connector_health(gateway: Any | None) -> dict[str, Any]:
    """The live health of the gateway's connectors and routes: ``{"running", "status", "connectors",
    "routes"}``. ``connectors``: ``{"name", "type", "health", "breaker"}`` (``breaker``: ``{"state",
    "failures", "retry_in"?, "reason"?}``, None without routing); ``routes``: ``{"name", "rules",
    "strategy", "connectors", "weights"?, "rate"?}``, each member named with its health as
    ``members: [{"name", "health"}]``. ``status`` is ``up``, ``degraded`` or ``down`` (the dispatcher's
    view: down when no connector can take messages), or ``unknown`` when this process does not run the
    connectors (``running`` False, nothing else listed)."""
    from textgate.routing.router import Router

    connector = getattr(gateway, "connector", None)
    if gateway is None or connector is None or not gateway.running:
        return {"running": False, "status": UNKNOWN, "connectors": [], "routes": []}
    status = connector.health().value
    if isinstance(connector, Router):
        view = connector.view()
        connectors = [dict(c) for c in view["connectors"]]
        routes = [dict(r) for r in view["routes"]]
    else:
        types, routes = _configured(gateway)
        connectors = [
            {
                "name": name,
                "type": types.get(name, UNKNOWN),
                "health": c.health().value,
                "breaker": None,
            }
            for name, c in gateway.connectors().items()
        ]
    health = {c["name"]: c["health"] for c in connectors}
    for route in routes:
        route["members"] = [{"name": n, "health": health.get(n, UNKNOWN)} for n in route["connectors"]]
    for c in connectors:
        c["ok"] = c["health"] == Health.UP.value and (c["breaker"] or {}).get("state", "closed") == "closed"
    return {"running": True, "status": status, "connectors": connectors, "routes": routes}


def health_from_healthz(body: dict[str, Any]) -> dict[str, Any]:
    """:func:`connector_health`'s view from the ``/healthz`` answer of the process that runs the
    connectors (an API process's parent): its ``connectors`` (name: health) and, with routing, its
    ``routing`` view."""
    named = body.get("connectors")
    if not isinstance(named, dict) or not named:
        return {"running": False, "status": UNKNOWN, "connectors": [], "routes": []}
    routing = body.get("routing") if isinstance(body.get("routing"), dict) else None
    if routing is not None:
        connectors = [dict(c) for c in routing.get("connectors", [])]
        routes = [dict(r) for r in routing.get("routes", [])]
    else:
        connectors = [
            {"name": str(n), "type": UNKNOWN, "health": str(h), "breaker": None} for n, h in named.items()
        ]
        routes = []
    health = {c["name"]: c.get("health", UNKNOWN) for c in connectors}
    for route in routes:
        route["members"] = [
            {"name": n, "health": health.get(n, UNKNOWN)} for n in route.get("connectors", [])
        ]
    for c in connectors:
        c["ok"] = (
            c.get("health") == Health.UP.value and (c.get("breaker") or {}).get("state", "closed") == "closed"
        )
    healths = set(health.values())
    status = (
        Health.UP.value
        if healths == {Health.UP.value}
        else Health.DOWN.value
        if Health.UP.value not in healths and Health.DEGRADED.value not in healths
        else Health.DEGRADED.value
    )
    return {"running": True, "status": status, "connectors": connectors, "routes": routes}


def _configured(gateway: Any) -> tuple[dict[str, str], list[dict[str, Any]]]:
    """Connector types and routes of the gateway's configuration (one connector: no router runs), as
    ``textgate routes list`` shows them; none when the configuration does not parse."""
    from textgate.routing.config import RoutingConfigError
    from textgate.routing.registry import load_routing

    try:
        config = load_routing(gateway.settings)
    except (RoutingConfigError, AttributeError):
        return {}, []
    return {spec.name: spec.type for spec in config.connectors}, [r.view() for r in config.routes]


def message_deliveries(conn: Connection, account_id: str, message_id: str) -> list[dict[str, Any]]:
    """The webhook deliveries queued for one message of the account (its events: status changes, clicks,
    a reply forwarded...), oldest first, at most DELIVERIES_MAX: ``{"id", "event_type", "endpoint_id",
    "endpoint_url", "endpoint_deleted", "status", "created_at", "delivered_at", "next_attempt_at",
    "last_status_code", "last_error", "attempts": [{"at", "status_code", "error", "duration_ms"}]}``.
    The caller has checked that the message is the account's."""
    e, d, a = webhook_endpoints.c, webhook_deliveries.c, webhook_attempts.c
    endpoints = {
        r.id: r for r in conn.execute(select(e.id, e.url, e.deleted_at).where(e.account_id == account_id))
    }
    if not endpoints:
        return []
    rows = conn.execute(
        select(webhook_deliveries)
        .where(
            d.endpoint_id.in_(list(endpoints)),  # ix_webhook_deliveries_order: (endpoint, order_key, ...)
            d.order_key == message_id,
            d.account_id == account_id,
        )
        .order_by(d.seq)
        .limit(DELIVERIES_MAX)
    ).all()
    if not rows:
        return []
    attempts: dict[str, list[dict[str, Any]]] = {r.id: [] for r in rows}
    for row in conn.execute(select(webhook_attempts).where(a.delivery_id.in_(list(attempts))).order_by(a.id)):
        attempts[row.delivery_id].append(
            {
                "at": isoformat(row.at),
                "status_code": row.status_code,
                "error": row.error,
                "duration_ms": row.duration_ms,
            }
        )
    return [
        {
            "id": r.id,
            "event_type": r.event_type,
            "endpoint_id": r.endpoint_id,
            "endpoint_url": endpoints[r.endpoint_id].url,
            "endpoint_deleted": endpoints[r.endpoint_id].deleted_at is not None,
            "status": r.status,
            "created_at": isoformat(r.created_at),
            "delivered_at": isoformat(r.delivered_at),
            "next_attempt_at": isoformat(r.due_at) if r.status == "pending" else None,
            "last_status_code": r.last_status_code,
            "last_error": r.last_error,
            "attempts": attempts[r.id],
        }
        for r in rows
    ]
