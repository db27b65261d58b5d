"""What every upstream HTTP provider connector shares: configuration, one request path, the classification
of HTTP statuses and transport failures, callback authentication, and health from recent outcomes.

Each provider folder's ``connector.py`` subclasses :class:`HttpUpstream` and adds only what is its own: how
a message becomes a request, how the provider's answer reads (its error codes or texts, through one
class-level table per connector), and how its callbacks parse.

Classification, in order (the first that applies wins):

1. A transport failure (connect refused, timeout, broken connection) — :data:`TRANSPORT_ERRORS`: always
   retryable; the provider may have taken the message or not, so connectors send an idempotency key where
   the provider takes one.
2. The provider's own error vocabulary (a code, a text, a ``status: failed``) — each connector's table.
3. The HTTP status — :data:`STATUS_ERRORS`; a 4xx not listed is a permanent ``validation`` refusal, a 5xx
   not listed a retryable ``provider_error``.

Decisions where the brief left room (also in docs/connectors.md):

* 401 is ``authentication`` and 403 ``permission_denied``: permanent for the message (retrying a wrong
  credential cannot help, and dispatch would burn every attempt), but the connector reports itself DOWN
  until an answer succeeds again, so an operator sees it at once.
* Insufficient credits *at the upstream* keeps its own kind, ``insufficient_credits``, so the message's
  ``error_code`` says what happened, but is **retryable**: it is not the message's fault, and a top-up at
  the provider lets the backlog drain. The connector is DOWN meanwhile.
* A 404/405 means the ``base_url`` is wrong: ``platform_error``, retryable (the operator fixes the config),
  counted as a transient failure for health.

Health (:meth:`HttpUpstream.health`) reads the last :data:`HEALTH_WINDOW` outcomes: DOWN when the latest
says the account is unusable (credentials, permission, credits) or the last :data:`DOWN_AFTER` were all
transient failures; DEGRADED while any recent outcome was one of those; otherwise UP. A permanent refusal of
one message (bad number, opted out) says nothing about the provider and counts as a success.

Callbacks: with ``callback_secret`` set, a callback must carry it as the ``secret`` query parameter (put
it in the URL registered at the provider); anything else is answered 401 and reported to nobody.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import hmac
import json
import logging
import re
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, ClassVar

import httpx

from textgate.domain.errors import CarrierError, ErrorKind
from textgate.providers.base import (
    CallbackRequest,
    CallbackResponse,
    Connector,
    ConnectorContext,
    Health,
    InboundMessage,
    OutboundMessage,
    Receipt,
    ReportSink,
)

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 10.0
HEALTH_WINDOW = 20
DOWN_AFTER = 3


@dataclass(frozen=True, slots=True)
class Rule:
    """How one kind of answer is classified."""

    kind: ErrorKind
    retryable: bool


#: HTTP status → classification, where the provider's own vocabulary said nothing more precise.
STATUS_ERRORS: dict[int, Rule] = {
    400: Rule(ErrorKind.VALIDATION, False),
    401: Rule(ErrorKind.AUTHENTICATION, False),
    402: Rule(ErrorKind.INSUFFICIENT_CREDITS, True),
    403: Rule(ErrorKind.PERMISSION_DENIED, False),
    404: Rule(ErrorKind.PLATFORM_ERROR, True),
    405: Rule(ErrorKind.PLATFORM_ERROR, True),
    408: Rule(ErrorKind.PROVIDER_ERROR, True),
    409: Rule(ErrorKind.CONFLICT, False),
    413: Rule(ErrorKind.INVALID_CONTENT, False),
    422: Rule(ErrorKind.VALIDATION, False),
    425: Rule(ErrorKind.THROTTLED, True),
    429: Rule(ErrorKind.THROTTLED, True),
}
OTHER_4XX = Rule(ErrorKind.VALIDATION, False)
OTHER_5XX = Rule(ErrorKind.PROVIDER_ERROR, True)
#: Any other status (1xx, 3xx: a redirect is not followed — it usually means a wrong base URL).
OTHER_STATUS = Rule(ErrorKind.PLATFORM_ERROR, True)

#: Transport failures, most specific first. All retryable: the request may or may not have arrived.
TRANSPORT_ERRORS: tuple[tuple[type[httpx.TransportError], Rule], ...] = (
    (httpx.TimeoutException, Rule(ErrorKind.PROVIDER_ERROR, True)),
    (httpx.ConnectError, Rule(ErrorKind.PROVIDER_ERROR, True)),
    (httpx.TransportError, Rule(ErrorKind.PROVIDER_ERROR, True)),
)

#: Kinds that say the upstream account itself is unusable (every message would fail alike).
ACCOUNT_KINDS = frozenset(
    {ErrorKind.AUTHENTICATION, ErrorKind.PERMISSION_DENIED, ErrorKind.INSUFFICIENT_CREDITS}
)


def status_rule(status: int) -> Rule:
    if status in STATUS_ERRORS:
        return STATUS_ERRORS[status]
    if 400 <= status < 500:
        return OTHER_4XX
    if status >= 500:
        return OTHER_5XX
    return OTHER_STATUS


class Outcome(Enum):
    OK = "ok"
    TRANSIENT = "transient"
    ACCOUNT = "account"


def outcome_of(exc: CarrierError) -> Outcome:
    if exc.kind in ACCOUNT_KINDS:
        return Outcome.ACCOUNT
    if exc.retryable:
        return Outcome.TRANSIENT
    return Outcome.OK  # the provider answered sensibly; the message was the problem


# -- configuration --------------------------------------------------------------------------------------
def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value.strip() else None


def _number(value: Any, minimum: float) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < minimum:
        return None
    return float(value)


#: The checks a config value can get: (check, what it must be). A check returns None when it fails.
CHECKS: dict[str, tuple[Callable[[Any], Any], str]] = {
    "text": (_text, "a non-empty string"),
    "url": (
        lambda v: v.rstrip("/") if _text(v) and v.startswith(("http://", "https://")) else None,
        "an http(s) URL",
    ),
    "seconds": (lambda v: _number(v, 0.001), "a positive number of seconds"),
    "seconds_or_0": (lambda v: _number(v, 0), "a number of seconds (0 turns it off)"),
}


@dataclass(frozen=True, slots=True)
class UpstreamConfig:
    """One ``[[connectors]]`` table, checked: ``values`` holds the type's own keys."""

    name: str
    type: str
    base_url: str
    timeout: float = DEFAULT_TIMEOUT
    callback_secret: str | None = None
    values: dict[str, Any] = field(default_factory=dict)


def parse_config(
    table: Mapping[str, Any], required: Mapping[str, str], optional: Mapping[str, tuple[str, Any]]
) -> UpstreamConfig:
    """Check a ``[[connectors]]`` table: ``required`` and ``optional`` name each type-specific key's check
    (a :data:`CHECKS` key; optional ones with their default). A missing, unknown or malformed key is a
    ValueError naming it."""
    name = table.get("name")
    kind = table.get("type")
    where = f"connector {name!r} (type {kind!r})"
    if not _text(name):
        raise ValueError(f"{where}: 'name' is required (a non-empty string)")
    common_required = {"base_url": "url"}
    common_optional: dict[str, tuple[str, Any]] = {
        "timeout": ("seconds", DEFAULT_TIMEOUT),
        "callback_secret": ("text", None),
    }
    all_required = {**common_required, **required}
    all_optional = {**common_optional, **optional}
    unknown = sorted(set(table) - {"name", "type"} - set(all_required) - set(all_optional))
    if unknown:
        allowed = ", ".join(sorted([*all_required, *all_optional]))
        raise ValueError(f"{where}: unknown key {unknown[0]!r} (allowed: {allowed})")
    values: dict[str, Any] = {}
    for key, check in all_required.items():
        if key not in table:
            raise ValueError(f"{where}: missing required key {key!r}")
        values[key] = _checked(where, key, check, table[key])
    for key, (check, default) in all_optional.items():
        values[key] = _checked(where, key, check, table[key]) if key in table else default
    return UpstreamConfig(
        name=str(name),
        type=str(kind),
        base_url=values.pop("base_url"),
        timeout=values.pop("timeout"),
        callback_secret=values.pop("callback_secret"),
        values=values,
    )


def _checked(where: str, key: str, check: str, value: Any) -> Any:
    fn, must_be = CHECKS[check]
    out = fn(value)
    if out is None:
        raise ValueError(f"{where}: {key!r} must be {must_be}, not {value!r}")
    return out


# -- the base class -------------------------------------------------------------------------------------
class HttpUpstream(Connector, abc.ABC):
    """One provider account reached over HTTP through the gateway's shared ``httpx.AsyncClient``."""

    #: ``type`` value(s) this class serves → set by subclasses for messages and docs.
    PROVIDER: ClassVar[str] = "upstream"
    #: Type-specific keys: name → :data:`CHECKS` key; optional ones with their default.
    REQUIRED: ClassVar[dict[str, str]] = {}
    OPTIONAL: ClassVar[dict[str, tuple[str, Any]]] = {}

    def __init__(self, config: UpstreamConfig, ctx: ConnectorContext) -> None:
        self.name = config.name
        self.config = config
        self.ctx = ctx
        self.http: httpx.AsyncClient = ctx.http
        self.sink: ReportSink | None = None
        self._outcomes: deque[Outcome] = deque(maxlen=HEALTH_WINDOW)

    @classmethod
    def factory(cls, table: Mapping[str, Any], ctx: ConnectorContext) -> HttpUpstream:
        """The ``ConnectorFactory`` for this class."""
        return cls(parse_config(table, cls.REQUIRED, cls.OPTIONAL), ctx)

    @property
    def callback_url(self) -> str:
        """The URL to register at the provider (with ``?secret=`` when ``callback_secret`` is set)."""
        url = self.ctx.callback_url(self.name)
        return f"{url}?secret={self.config.callback_secret}" if self.config.callback_secret else url

    # -- lifecycle ------------------------------------------------------------------------------------
    async def start(self, sink: ReportSink) -> None:
        self.sink = sink

    async def stop(self) -> None:
        self.sink = None

    # -- submitting -----------------------------------------------------------------------------------
    @abc.abstractmethod
    async def send(self, message: OutboundMessage) -> str:
        """Submit one message; the carrier id, or raise a classified CarrierError."""

    async def submit(self, message: OutboundMessage) -> str:
        try:
            carrier_id = await self.send(message)
        except CarrierError as exc:
            self.note(outcome_of(exc))
            raise
        self.note(Outcome.OK)
        return carrier_id

    async def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One request to ``base_url + path``; transport failures become retryable CarrierErrors."""
        url = self.config.base_url + path
        try:
            return await self.http.request(method, url, timeout=self.config.timeout, **kwargs)
        except httpx.TransportError as exc:
            rule = next(r for t, r in TRANSPORT_ERRORS if isinstance(exc, t))
            raise self.error(
                f"{self.PROVIDER} unreachable: {type(exc).__name__}: {exc}".rstrip(": "),
                rule,
                transport=type(exc).__name__,
            ) from exc

    def error(self, message: str, rule: Rule, **context: Any) -> CarrierError:
        return CarrierError(
            message, kind=rule.kind, retryable=rule.retryable, carrier=self.PROVIDER, **context
        )

    def status_error(self, response: httpx.Response, message: str | None = None) -> CarrierError:
        """The HTTP status's classification (when the provider's own vocabulary had nothing better)."""
        text = message or response.text.strip()[:300] or response.reason_phrase
        return self.error(
            f"{self.PROVIDER} answered {response.status_code}: {text}",
            status_rule(response.status_code),
            status=response.status_code,
        )

    # -- health ---------------------------------------------------------------------------------------
    def note(self, outcome: Outcome) -> None:
        self._outcomes.append(outcome)

    def health(self) -> Health:
        recent = list(self._outcomes)
        if not recent:
            return Health.UP
        if recent[-1] is Outcome.ACCOUNT:
            return Health.DOWN
        tail = recent[-DOWN_AFTER:]
        if len(tail) == DOWN_AFTER and all(o is Outcome.TRANSIENT for o in tail):
            return Health.DOWN
        if any(o is not Outcome.OK for o in recent):
            return Health.DEGRADED
        return Health.UP

    # -- callbacks ------------------------------------------------------------------------------------
    def callback_authorized(self, request: CallbackRequest) -> bool:
        """Whether a callback may be read: always without ``callback_secret``, else when it carries it."""
        secret = self.config.callback_secret
        return secret is None or same_secret(request.query.get("secret"), secret)

    async def callback(self, request: CallbackRequest) -> CallbackResponse:
        if not self.callback_authorized(request):
            return CallbackResponse(401, "wrong or missing callback secret")
        if self.sink is None:
            # Not started (or stopping): the provider should try again rather than lose the report.
            return CallbackResponse(503, "not ready; try again")
        try:
            return await self.handle_callback(request, self.sink)
        except CallbackRefused as exc:
            return CallbackResponse(exc.status, exc.reason)

    async def handle_callback(self, request: CallbackRequest, sink: ReportSink) -> CallbackResponse:
        """Parse the provider's callback and report it; subclasses with callbacks override this."""
        return CallbackResponse(404, f"{self.PROVIDER} sends no callbacks")

    async def report(
        self, sink: ReportSink, receipts: list[Receipt], ok: CallbackResponse | None = None
    ) -> CallbackResponse:
        """Report receipts; when one names a message not recorded yet (it overtook the submit answer),
        answer 503 so the provider delivers it again later."""
        matched = await sink.receipts(self.name, receipts) if receipts else []
        if not all(matched):
            return CallbackResponse(503, "unknown message id (yet); deliver the report again later")
        return ok or CallbackResponse()

    async def report_inbound(
        self, sink: ReportSink, message: InboundMessage, ok: CallbackResponse | None = None
    ) -> CallbackResponse:
        await sink.inbound(self.name, message)
        return ok or CallbackResponse()


class CallbackRefused(Exception):
    """A callback that cannot be read: answered with ``status`` and ``reason``, reported to nobody."""

    def __init__(self, reason: str, status: int = 400) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


#: A provider's error texts: (pattern, classification), the first pattern found in the text wins.
ReasonTable = tuple[tuple[re.Pattern[str], Rule], ...]


def reason_table(*entries: tuple[str, Rule]) -> ReasonTable:
    return tuple((re.compile(pattern, re.IGNORECASE), rule) for pattern, rule in entries)


def match_reason(table: ReasonTable, text: str) -> Rule | None:
    return next((rule for pattern, rule in table if pattern.search(text)), None)


def same_secret(given: str | None, expected: str) -> bool:
    """Constant-time comparison, so the answer's timing does not leak the secret."""
    return hmac.compare_digest((given or "").encode(), expected.encode())


def plus_digits(address: Any) -> str:
    """A provider's digits-only number back to E.164; an alphanumeric sender as it is."""
    text = str(address or "").strip()
    return "+" + text if text.isdigit() else text


def error_kind(value: Any) -> ErrorKind:
    """A textgate kind carried as text by a provider format, or ``unknown``."""
    try:
        return ErrorKind(value)
    except ValueError:
        return ErrorKind.UNKNOWN


def response_json(response: httpx.Response) -> dict[str, Any]:
    """An answer's JSON object, or {} when it is not one (an HTML error page, plain text)."""
    try:
        data = response.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def callback_json(raw: bytes) -> dict[str, Any]:
    """A callback body that must be a JSON object."""
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise CallbackRefused(f"the body is not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise CallbackRefused("the body must be a JSON object")
    return data


class Poller:
    """A background loop calling ``step`` every ``interval`` seconds until stopped (status polling for
    providers that push no delivery reports). A failing step is logged and retried next round."""

    def __init__(self, name: str, interval: float, step: Callable[[], Awaitable[object]]) -> None:
        self.name = name
        self.interval = interval
        self.step = step
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._stop.clear()
        self._task = asyncio.create_task(self._run(), name=f"{self.name}-poll")

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            await self._task
            self._task = None

    async def _run(self) -> None:
        while not self._stop.is_set():
            try:
                await self.step()
            except Exception:  # one failed round must not end polling
                log.exception("%s: status poll failed; trying again next round", self.name)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self.interval)
