"""How an event is put on the wire for one endpoint.

Every endpoint has a *format*. ``standard`` is textgate's own signed JSON event. Provider dialects add
the formats their customers' software expects (an inbound message as TextBetter posts it, a delivery
report as BestSMS sends it, ...) by registering a :data:`Renderer` under a name; textgate discovers
them in each provider package's ``wire`` module (its ``FORMATS`` dict). The options an endpoint of a
format may carry are declared beside it (``FORMAT_OPTIONS``) and checked when the endpoint is created: an
option a format does not read is refused, not silently ignored.

A renderer gets the event and the endpoint and returns what to send, or None to skip the event (a format
that only carries inbound messages skips status changes). It runs inside the transaction that records
the event, so it may read the database (e.g. media content) through ``ctx.conn``.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Connection

from textgate.domain.clock import isoformat
from textgate.domain.errors import ValidationError


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


#: Checks one option's value: the value to store, or ValueError saying what is wrong with it.
OptionCheck = Callable[[Any], Any]


def text_option(max_length: int) -> OptionCheck:
    def check(value: Any) -> str:
        if not isinstance(value, str):
            raise ValueError("must be a string")
        if len(value) > max_length:
            raise ValueError(f"must be at most {max_length} characters")
        return value

    return check


def choice_option(*choices: str) -> OptionCheck:
    """One of ``choices``, matched without case; stored as written in ``choices``."""

    def check(value: Any) -> str:
        for choice in choices:
            if isinstance(value, str) and value.strip().upper() == choice.upper():
                return choice
        raise ValueError(f"must be one of {', '.join(choices)}")

    return check


def register_format(name: str, render: Renderer, options: Mapping[str, OptionCheck] | None = None) -> None:
    """Add a format at run time (tests, plug-ins); provider packages use their ``wire.FORMATS`` and
    ``wire.FORMAT_OPTIONS``."""
    _FORMATS[name] = render
    _OPTIONS[name] = dict(options or {})


def check_options(name: str, options: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The endpoint options of format ``name``, checked: an unknown option or a bad value is a
    ValidationError naming ``options.<key>``. None when there are none."""
    _discover()
    if not options:
        return None
    if not isinstance(options, Mapping):
        raise ValidationError("options must be an object", field="options")
    known = _OPTIONS.get(name, {})
    out: dict[str, Any] = {}
    for key, value in options.items():
        check = known.get(key)
        if check is None:
            takes = f"it takes {', '.join(sorted(known))}" if known else "it takes none"
            raise ValidationError(f"format {name!r} has no option {key!r}; {takes}", field=f"options.{key}")
        try:
            out[key] = check(value)
        except ValueError as exc:
            raise ValidationError(f"{key} {exc}", field=f"options.{key}") from exc
    return out


def render_standard(event_type: str, data: dict[str, Any], _ep: Endpoint, ctx: RenderContext) -> Rendered:
    event = {"type": event_type, "timestamp": isoformat(ctx.now), "data": data}
    return Rendered(body=orjson.dumps(event).decode())


_FORMATS: dict[str, Renderer] = {"standard": render_standard}
_OPTIONS: dict[str, dict[str, OptionCheck]] = {"standard": {}}
#: The event types a format can put on the wire, when not all (a provider module's ``FORMAT_EVENTS``).
_EVENTS: dict[str, frozenset[str]] = {}
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
        for name, checks in getattr(module, "FORMAT_OPTIONS", {}).items():
            _OPTIONS.setdefault(name, dict(checks))
        for name, kinds in getattr(module, "FORMAT_EVENTS", {}).items():
            _EVENTS.setdefault(name, frozenset(kinds))
    _discovered = True


def renderer(name: str) -> Renderer | None:
    _discover()
    return _FORMATS.get(name)


def format_names() -> list[str]:
    _discover()
    return sorted(_FORMATS)


def check_format_events(name: str, events: list[str]) -> None:
    """Refuse events format ``name`` cannot render: such an endpoint would never fire."""
    _discover()
    renders = _EVENTS.get(name)
    if renders is None:
        return
    never = [e for e in events if e not in renders]
    if never:
        raise ValidationError(
            f"format {name!r} carries only {', '.join(sorted(renders))} events; "
            f"{', '.join(never)} would never be sent",
            field="events",
        )


def default_events(name: str) -> list[str]:
    """The events an endpoint of format ``name`` gets when none are named: all it can render."""
    from textgate.webhooks.outbox import EVENT_TYPES

    _discover()
    renders = _EVENTS.get(name)
    return [e for e in EVENT_TYPES if renders is None or e in renders]
