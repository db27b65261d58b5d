"""How an event is put on the wire for one endpoint.

Every endpoint has a *format*. ``standard`` is textgate's own signed JSON event. Provider dialects add
the formats their customers' software expects (an inbound message as TextBetter posts it, a delivery
report as BestSMS sends it, ...) by registering a :data:`Renderer` under a name; textgate discovers
them in each provider package's ``wire`` module (its ``FORMATS`` dict).

A renderer gets the event and the endpoint and returns what to send, or None to skip the event (a format
that only carries inbound messages skips status changes). It runs inside the transaction that records
the event, so it may read the database (e.g. media content) through ``ctx.conn``.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Connection

from textgate.domain.clock import isoformat


@dataclass(frozen=True, slots=True)
class Endpoint:
    id: str
    account_id: str
    url: str
    events: frozenset[str]
    format: str
    number: str | None
    options: dict[str, Any] = field(default_factory=dict)
    #: The message statuses ``message.status`` events are sent for; None: all of them.
    statuses: frozenset[str] | None = None


@dataclass(frozen=True, slots=True)
class RenderContext:
    conn: Connection
    now: datetime


@dataclass(frozen=True, slots=True)
class Rendered:
    body: str = ""
    method: str = "POST"
    content_type: str | None = "application/json"
    #: Query parameters appended to the endpoint URL (for formats that deliver by GET).
    query: dict[str, str] | None = None
    #: Where this one delivery goes instead of the endpoint's URL (e.g. a ``mailto:`` given with a send).
    url: str | None = None


Renderer = Callable[[str, dict[str, Any], Endpoint, RenderContext], Rendered | None]


def register_format(name: str, render: Renderer) -> None:
    """Add a format at run time (tests, plug-ins); provider packages use their ``wire.FORMATS``."""
    _FORMATS[name] = render


def render_standard(event_type: str, data: dict[str, Any], _ep: Endpoint, ctx: RenderContext) -> Rendered:
    event = {"type": event_type, "timestamp": isoformat(ctx.now), "data": data}
    return Rendered(body=orjson.dumps(event).decode())


_FORMATS: dict[str, Renderer] = {"standard": render_standard}
_discovered = False


def _discover() -> None:
    global _discovered
    if _discovered:
        return
    import textgate.providers

    for info in pkgutil.iter_modules(textgate.providers.__path__):
        if not info.ispkg:
            continue
        try:
            module = importlib.import_module(f"textgate.providers.{info.name}.wire")
        except ModuleNotFoundError as exc:
            if exc.name == f"textgate.providers.{info.name}.wire":
                continue
            raise
        for name, renderer in getattr(module, "FORMATS", {}).items():
            _FORMATS.setdefault(name, renderer)
    _discovered = True


def renderer(name: str) -> Renderer | None:
    _discover()
    return _FORMATS.get(name)


def format_names() -> list[str]:
    _discover()
    return sorted(_FORMATS)
