"""Property-based fuzzing of every HTTP entry point of the gateway, in-process.

What is fuzzed: every operation that ``/openapi.json`` lists (the native API and the five provider
dialects: TextBetter, BestSMS, TextingLine, Betatel, Text-Connect, plus ``/healthz`` and ``/metrics``).
For each operation hypothesis builds requests from the operation's own schema — its path, query and
header parameters and its JSON body — with each value drawn either from plausible data (the tenant's
number, real ids created up front) or from hostile values: lone UTF-16 surrogates, NUL, huge integers,
dates at the calendar's ends with extreme offsets, deep nesting, wrong types, very long strings, broken
UTF-8 sent as raw bytes, form bodies where JSON is expected and the reverse. Credentials follow each
dialect's own scheme (Bearer, Basic, headers, a key in the query or the body), and most cases carry
valid ones so that the fuzz reaches past authentication.

What must hold after every case: the answer is not a 5xx (an exception escaping the app fails the
case too), every account's balance equals the sum of its ledger entries, and ``GET /healthz`` is 200.
At the end of each operation's run, a share of its cases must have got past authentication.

Provider callbacks (``/callbacks/{name}``) are left out: without running connectors (``workers=False``)
they answer 503 by design. Outbound HTTP from the app (media fetches) is cut off for the whole module.

Runs are reproducible (``derandomize``). To fuzz longer, raise the number of cases per operation::

    TEXTGATE_FUZZ_EXAMPLES=500 .venv/bin/pytest tests/fuzz -q
"""

from __future__ import annotations

import base64
import json
import math
import os
import re
import tempfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, func, select

from tests.helpers import Tenant, make_tenant
from textgate.config import Settings
from textgate.store.db import make_engine
from textgate.store.schema import accounts, ledger_entries
from textgate.web.app import create_app

EXAMPLES = int(os.environ.get("TEXTGATE_FUZZ_EXAMPLES", "40"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)
#: At least this share of an authenticated operation's cases must get past authentication.
MIN_AUTHENTICATED_SHARE = 0.3
#: Paths not fuzzed, and why: see the module docstring.
SKIPPED_PATHS = {"/callbacks/{name}"}
#: How each dialect says "wrong credentials" when it does not answer 401/403.
AUTH_FAILURE_TEXT = re.compile(r"Invalid Company/KEY/DID combination|^-501\b|\"Result\":\s*\"Unauthorized\"")

DESTINATION = "+15550001000"


class Raw:
    """A JSON fragment written verbatim (nesting the encoder would refuse, invalid JSON)."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return f"Raw({self.text[:60]!r}{'...' if len(self.text) > 60 else ''})"


def to_json(value: Any) -> str:
    """JSON text with ``\\uXXXX`` escapes, so lone surrogates reach the server as JSON allows them."""
    if isinstance(value, Raw):
        return value.text
    if isinstance(value, dict):
        return "{" + ",".join(f"{to_json(str(k))}:{to_json(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(to_json(v) for v in value) + "]"
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    return json.dumps(value)


def pct(value: Any) -> str:
    """Percent-encoding that keeps lone surrogates as the (invalid UTF-8) bytes they would be."""
    return quote(str(value), safe="", errors="surrogatepass")


# --- hostile values -------------------------------------------------------------------------------

HOSTILE_STRINGS = [
    "\ud800",
    "\udfff",
    "a\ud83d",
    "\x00",
    "a\x00b",
    "",
    " ",
    "\u202e\u200b\ufeff",
    "0001-01-01T00:00:00+14:00",
    "9999-12-31T23:59:59-14:00",
    "9999-12-31T23:59:59.999999Z",
    "0000-00-00 00:00:00",
    "2026-02-30T25:61:61Z",
    "1e309",
    "-1",
    "99999999999999999999999999999999",
    "NaN",
    "null",
    "[]",
    "{}",
    "%",
    "%ZZ",
    "../../etc/passwd",
    "' OR 1=1 --",
    "=cmd|' /C calc'!A0",
    "<x/>&amp;",
    "+" + "9" * 40,
    "x" * 5000,
    "\U0001f600" * 2000,
]
HOSTILE_NUMBERS = [0, -1, 2**31, 2**63, -(2**63) - 1, 10**100, 1e308, -0.0, 1.5, float("nan"), float("inf")]
DEEP = [Raw("[" * 5000 + "]" * 5000), Raw('{"a":' * 3000 + "1" + "}" * 3000)]
HUGE = ["y" * 300_000]
BROKEN_JSON = [Raw('{"a":'), Raw("{'a':1}"), Raw('{"a":1,"a":2}'), Raw("[1,]"), Raw('"\\ud800\\u0000"')]

hostile_scalar = st.one_of(
    st.sampled_from(HOSTILE_STRINGS),
    st.sampled_from(HOSTILE_NUMBERS),
    st.sampled_from([None, True, False, [], {}]),
    st.text(max_size=30),
    st.integers(),
)
hostile_value = st.one_of(
    hostile_scalar,
    st.sampled_from(DEEP + BROKEN_JSON + HUGE),
    st.lists(hostile_scalar, max_size=4),
    st.dictionaries(st.text(max_size=8), hostile_scalar, max_size=3),
)
# Query strings, headers and forms carry text only.
hostile_text = st.one_of(
    st.sampled_from(HOSTILE_STRINGS),
    st.sampled_from([str(n) for n in HOSTILE_NUMBERS]),
    st.text(max_size=30),
    st.integers().map(str),
)
header_text = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=40)

RAW_BODIES = [
    b"\xff\xfe\xfd",
    b"\xc3(",
    b'{"body":"\xed\xa0\x80"}',  # a surrogate written as (invalid) UTF-8
    b'{"to":"\x80\x81","from":"\xc0\xaf"}',
    b"\x00" * 64,
    b"a=%ED%A0%80&b=%00&c=%",
    b'--x\r\nContent-Disposition: form-data; name="a"\r\n\r\n\xff\r\n',  # unterminated multipart
    b"\xef\xbb\xbf{}",  # BOM
    b"",
]
CONTENT_TYPES = [
    "application/json",
    "application/json; charset=latin-1",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=x",
    "multipart/form-data",
    "text/csv",
    "text/plain",
    "application/xml",
]


# --- the gateway under test -----------------------------------------------------------------------


@dataclass
class Gateway:
    client: TestClient
    engine: Engine
    tenant: Tenant
    spec: dict[str, Any]
    ids: list[str] = field(default_factory=list)
    good_strings: list[str] = field(default_factory=list)


def _collect_ids(value: Any, into: set[str]) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            if isinstance(v, str) and (k.lower().endswith("id") or k in {"id", "username"}):
                into.add(v)
            _collect_ids(v, into)
    elif isinstance(value, list):
        for v in value:
            _collect_ids(v, into)


def _seed(client: TestClient, tenant: Tenant) -> set[str]:
    """Real resources of every kind, so that generated path parameters also hit existing rows."""
    auth = {"Authorization": f"Bearer {tenant.key.secret}"}
    basic = (tenant.key.key_id, tenant.key.secret)
    ids: set[str] = {tenant.account.id, tenant.key.key_id}
    answers = [
        client.post(
            "/v1/messages", json={"from": tenant.number, "to": DESTINATION, "body": "hi"}, headers=auth
        ),
        client.post(
            "/v1/contacts", json={"name": "Ada", "number": DESTINATION, "groups": ["g1"]}, headers=auth
        ),
        client.post("/v1/groups", json={"name": "g2"}, headers=auth),
        client.post(
            "/v1/bulk-sends", json={"from": tenant.number, "body": "hi", "group": "g1"}, headers=auth
        ),
        client.post("/v1/lists", json={"name": "l1"}, headers=auth),
        client.post("/v1/webhooks", json={"url": "https://8.8.8.8/hook"}, headers=auth),
        client.post(
            "/v1/users",
            json={
                "username": "bob",
                "password": "correct-horse-9",
                "first_name": "Bob",
                "last_name": "Smith",
                "email": "bob@example.com",
                "credits": 50,
            },
            headers=auth,
        ),
        client.post("/v1/blocklist", json={"number": "+15550009999"}, headers=auth),
        client.post(
            "/api/v1/messaging/message",
            json={"from": tenant.number, "to": DESTINATION, "body": "x"},
            auth=basic,
        ),
        client.post(
            "/api/v1/connect-hub/sms",
            json={"from": tenant.number, "to": DESTINATION, "text": "x"},
            headers={"x-api-key": tenant.key.secret, "x-user-id": tenant.key.key_id},
        ),
        client.get(
            "/bestsms/send",
            params={
                "Sender": tenant.key.key_id,
                "Token": tenant.key.secret,
                "Number": DESTINATION,
                "Message": "x",
            },
        ),
    ]
    for answer in answers:
        assert answer.status_code < 300, (answer.request.url, answer.status_code, answer.text)
        _collect_ids(answer.json(), ids)
    return ids


@pytest.fixture(scope="module")
def gateway() -> Iterator[Gateway]:
    with tempfile.TemporaryDirectory() as tmp, pytest.MonkeyPatch.context() as mp:

        async def no_network(self: Any, request: httpx.Request) -> httpx.Response:
            raise httpx.ConnectError("the fuzz suite allows no outbound HTTP", request=request)

        mp.setattr(httpx.AsyncHTTPTransport, "handle_async_request", no_network)
        settings_ = Settings(database_url=f"sqlite:///{tmp}/t.db")
        engine = make_engine(settings_.database_url)
        try:
            with TestClient(create_app(settings_, engine=engine, workers=False)) as client:
                tenant = make_tenant(engine, credits=1_000_000)
                ids = _seed(client, tenant)
                spec = client.get("/openapi.json").json()
                good = [tenant.number, tenant.number.lstrip("+"), DESTINATION, DESTINATION.lstrip("+"), "hi"]
                yield Gateway(client, engine, tenant, spec, sorted(ids), good)
        finally:
            engine.dispose()


# --- operations and their credentials -------------------------------------------------------------


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    op: dict[str, Any]

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


def _load_operations() -> list[Operation]:
    with tempfile.TemporaryDirectory() as tmp:
        app = create_app(Settings(database_url=f"sqlite:///{tmp}/spec.db"), workers=False)
        spec = app.openapi()
    return [
        Operation(method.upper(), path, op)
        for path, ops in spec["paths"].items()
        if path not in SKIPPED_PATHS
        for method, op in ops.items()
    ]


OPERATIONS = _load_operations()


def dialect_of(path: str) -> str:
    if path.startswith("/v1/"):
        return "native"
    if path.startswith(("/api/v3.00/", "/bestsms/api/v3.00/")):
        return "bestsms-rest"
    if path.startswith("/bestsms/"):
        return "bestsms"
    if path.startswith("/api/v1/connect-hub/"):
        return "betatel"
    if path == "/api/SendOutgoingMessages":
        return "textbetter-v2"
    if path == "/SendTexts.aspx":
        return "textbetter-v1"
    if path == "/api":
        return "textconnect"
    if path.startswith("/api/v1/messaging/"):
        return "textingline"
    return "public"


#: Fields the dialects read from forms or flat JSON objects that their schema does not list.
FORM_FIELDS = {
    "bestsms": [
        "Sender",
        "Token",
        "Number",
        "Message",
        "MessageID",
        "SMSEmailReply",
        "Mode",
        "ScheduleDate",
        "SourceTON",
        "Type",
        "ValidityPeriod",
        "Timezone",
        "DateFrom",
        "DateTo",
        "Page",
        "APIKey",
    ],
    "bestsms-rest": [
        "messages",
        "destination",
        "Destination",
        "Destinations",
        "sender",
        "Message",
        "message",
        "reference",
        "Reference",
        "timezone",
        "scheduleDate",
        "TimePeriod",
        "timePeriod",
        "Page",
        "RecordsPerPage",
    ],
    "textbetter-v1": ["KEY", "DID", "ToNumber", "Message", "key", "tonumber"],
    "textconnect": [
        "Token",
        "Action",
        "DestinationAddress",
        "SourceAddress",
        "Body",
        "MessageID",
        "BGSendID",
        "ReportType",
        "From",
        "To",
        "ChildUsername",
        "ChildPassword",
        "AccessLevel",
        "FirstName",
        "LastName",
        "Email",
        "Telephone",
        "Credits",
        "Quantity",
        "ContactsCSV",
        "GroupName",
        "ListName",
        "SendTime",
        "ValidityPeriod",
        "ShowErrorMessage",
    ],
}
TEXTCONNECT_ACTIONS = [
    "CheckCredits",
    "CheckMessageStatus",
    "Send",
    "Report",
    "CreateUser",
    "UpdateCredits",
    "ImportContactsCSV",
    "DeleteAllContacts",
    "DeleteAllGroups",
    "EmptyGroup",
    "DeleteGroup",
    "GetBGSendMessages",
    "send",
    "NoSuchAction",
]


@dataclass
class Credentials:
    headers: dict[str, str] = field(default_factory=dict)
    query: list[tuple[str, str]] = field(default_factory=list)
    body: dict[str, Any] = field(default_factory=dict)
    valid: bool = False


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def credentials(dialect: str, tenant: Tenant, how: str) -> Credentials:
    """``how``: "good", "wrong" (a well-formed but unknown secret) or "none"."""
    if dialect == "public" or how == "none":
        return Credentials()
    key_id, secret = tenant.key.key_id, tenant.key.secret if how == "good" else "tgs_" + "w" * 32
    valid = how == "good"
    if dialect in {"native", "bestsms-rest"}:
        return Credentials(headers={"Authorization": f"Bearer {secret}"}, valid=valid)
    if dialect == "textingline":
        return Credentials(headers={"Authorization": _basic(key_id, secret)}, valid=valid)
    if dialect == "betatel":
        return Credentials(headers={"x-api-key": secret, "x-user-id": key_id}, valid=valid)
    if dialect == "bestsms":
        return Credentials(query=[("Sender", key_id), ("Token", secret)], valid=valid)
    if dialect == "textbetter-v2":
        return Credentials(query=[("code", key_id)], body={"APIKey": secret}, valid=valid)
    if dialect == "textbetter-v1":
        return Credentials(query=[("KEY", secret)], valid=valid)
    if dialect == "textconnect":
        return Credentials(query=[("Token", secret)], valid=valid)
    raise AssertionError(dialect)


# --- generation from the schema -------------------------------------------------------------------


def _resolve(schema: dict[str, Any], spec: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[1]
        schema = spec["components"]["schemas"][name]
    return schema


def plausible(schema: dict[str, Any], gw: Gateway, name: str, depth: int = 0) -> st.SearchStrategy[Any]:
    """A value of the schema's shape, from data the gateway knows (numbers, ids) where it can."""
    schema = _resolve(schema, gw.spec)
    for combinator in ("anyOf", "oneOf", "allOf"):
        if combinator in schema:
            return st.one_of([plausible(s, gw, name, depth) for s in schema[combinator]])
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        if depth > 3:
            return st.just({})
        props = {k: value_for(v, gw, k, depth + 1) for k, v in schema.get("properties", {}).items()}
        required = {k: v for k, v in props.items() if k in schema.get("required", ())}
        rest = {k: v for k, v in props.items() if k not in required}
        return st.one_of(
            st.fixed_dictionaries(required, optional=rest), st.fixed_dictionaries({}, optional=props)
        )
    if kind == "array":
        return st.lists(value_for(schema.get("items", {}), gw, name, depth + 1), max_size=4)
    if kind == "integer":
        return st.integers(-5, 500)
    if kind == "number":
        return st.floats(allow_nan=False, allow_infinity=False, min_value=-1e6, max_value=1e6)
    if kind == "boolean":
        return st.booleans()
    if schema.get("format") == "date-time" or name.endswith(("_at", "_after", "_before")):
        return st.datetimes(timezones=st.timezones()).map(lambda d: d.isoformat())
    if name in {"url", "mediaUrl"}:
        return st.sampled_from(
            ["https://8.8.8.8/a.png", "https://127.0.0.1/x", "ftp://a", "https://u:p@1.1.1.1/"]
        )
    return st.one_of(st.sampled_from(gw.good_strings + gw.ids), st.text(max_size=20))


def value_for(schema: dict[str, Any], gw: Gateway, name: str, depth: int = 0) -> st.SearchStrategy[Any]:
    hostile = hostile_scalar if depth > 2 else hostile_value
    return st.one_of(plausible(schema, gw, name, depth), plausible(schema, gw, name, depth), hostile)


def text_for(schema: dict[str, Any], gw: Gateway, name: str) -> st.SearchStrategy[str]:
    """A query, header or path value: text whatever the schema's type."""

    def as_text(value: Any) -> str:
        if isinstance(value, bool):
            return str(value).lower()
        if isinstance(value, list | dict | Raw):
            return to_json(value)
        return "" if value is None else str(value)

    return st.one_of(plausible(schema, gw, name).map(as_text), st.sampled_from(gw.ids), hostile_text)


@dataclass
class Case:
    method: str
    url: str
    headers: dict[str, str]
    content: bytes | None
    valid_credentials: bool

    def __repr__(self) -> str:
        body = self.content
        if body is not None and len(body) > 300:
            body = body[:300] + b"..."
        return f"Case({self.method} {self.url[:400]} headers={self.headers} body={body!r})"


@st.composite
def cases(draw: st.DrawFn, operation: Operation, gw: Gateway) -> Case:
    dialect = dialect_of(operation.path)
    creds = credentials(dialect, gw.tenant, draw(st.sampled_from(["good"] * 4 + ["wrong", "none"])))
    headers = dict(creds.headers)
    query: list[tuple[str, str]] = []
    path = operation.path
    for param in operation.op.get("parameters", []):
        name, where, schema = param["name"], param["in"], param.get("schema", {})
        if where == "path":
            value = draw(st.one_of(st.sampled_from(gw.ids), text_for(schema, gw, name)).filter(bool))
            path = path.replace("{" + name + "}", pct(value))
        elif where == "query" and not any(name == n for n, _ in creds.query) and draw(st.booleans()):
            query.append((name, draw(text_for(schema, gw, name))))
        elif where == "header" and name.lower() not in {h.lower() for h in headers} and draw(st.booleans()):
            headers[name] = draw(header_text)
    if dialect == "textconnect":
        query.append(("Action", draw(st.sampled_from(TEXTCONNECT_ACTIONS))))
    extra_names = FORM_FIELDS.get(dialect, [])
    if extra_names and operation.method == "GET":
        for name in draw(st.lists(st.sampled_from(extra_names), max_size=4, unique=True)):
            query.append((name, draw(text_for({}, gw, name))))
    if draw(st.integers(0, 9)) == 0:  # an unknown, hostile or repeated parameter
        query.append((draw(hostile_text), draw(hostile_text)))
    content: bytes | None = None
    if operation.method in {"POST", "PUT", "PATCH"}:
        content, content_type = draw(bodies(operation, gw, dialect, creds))
        if content_type is not None:
            headers["Content-Type"] = content_type
    # Credentials go first in the query, so a repeated name in the generated part cannot hide them.
    url = path
    pairs = creds.query + query
    if pairs:
        url += "?" + "&".join(f"{pct(k)}={pct(v)}" for k, v in pairs)
    return Case(operation.method, url, headers, content, creds.valid)


@st.composite
def bodies(
    draw: st.DrawFn, operation: Operation, gw: Gateway, dialect: str, creds: Credentials
) -> tuple[bytes | None, str | None]:
    content = operation.op.get("requestBody", {}).get("content", {})
    schema = content.get("application/json", {}).get("schema")
    shape = draw(st.sampled_from(["schema"] * 5 + ["flat"] * 2 + ["raw", "hostile-json", "none"]))
    if shape == "schema" and schema is None:
        shape = "flat"
    if shape == "none":
        return None, draw(st.sampled_from([None, "application/json"]))
    if shape == "raw":
        return draw(st.sampled_from(RAW_BODIES)), draw(st.sampled_from(CONTENT_TYPES))
    if shape == "hostile-json":
        return to_json(draw(hostile_value)).encode(), "application/json"
    if shape == "schema":
        assert schema is not None
        obj = draw(plausible(schema, gw, "body"))
    else:
        names = FORM_FIELDS.get(dialect, [])
        if schema is not None:
            names = names + list(_resolve(schema, gw.spec).get("properties", {}))
        obj = {}
        for name in draw(st.lists(st.sampled_from(names or ["a"]), max_size=6, unique=True)):
            obj[name] = draw(text_for({}, gw, name) if draw(st.booleans()) else value_for({}, gw, name))
    if isinstance(obj, dict):
        obj = {**creds.body, **obj} if draw(st.integers(0, 4)) == 0 else {**obj, **creds.body}
        if dialect in {"bestsms", "textconnect"} and creds.query:
            obj.update(creds.query)  # they read credentials from the form too
    as_form = draw(st.integers(0, 3)) == 0 or (shape == "flat" and draw(st.booleans()))
    if as_form and isinstance(obj, dict):
        form = "&".join(f"{pct(k)}={pct(v if isinstance(v, str) else to_json(v))}" for k, v in obj.items())
        return form.encode(), "application/x-www-form-urlencoded"
    return to_json(obj).encode(), draw(st.sampled_from(["application/json"] * 4 + [None, "text/plain"]))


# --- invariants -----------------------------------------------------------------------------------


def ledger_mismatches(engine: Engine) -> list[tuple[str, int, int]]:
    """Accounts whose stored balance differs from the sum of their ledger entries."""
    totals = (
        select(ledger_entries.c.account_id, func.sum(ledger_entries.c.amount).label("total"))
        .group_by(ledger_entries.c.account_id)
        .subquery()
    )
    query = select(accounts.c.id, accounts.c.balance, func.coalesce(totals.c.total, 0)).outerjoin(
        totals, totals.c.account_id == accounts.c.id
    )
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    return [(str(a), int(b), int(t)) for a, b, t in rows if int(b) != int(t)]


def send(gw: Gateway, case: Case) -> httpx.Response:
    return gw.client.request(
        case.method, case.url, headers=case.headers, content=case.content, follow_redirects=False
    )


@pytest.mark.parametrize("operation", OPERATIONS, ids=str)
def test_entry_point_survives_hostile_input(gateway: Gateway, operation: Operation) -> None:
    stats: Counter[str] = Counter()

    @FUZZ
    @given(case=cases(operation, gateway))
    def fuzz(case: Case) -> None:
        response = send(gateway, case)
        stats["cases"] += 1
        assert response.status_code < 500, f"{response.status_code}: {response.text[:500]}"
        refused = response.status_code in (401, 403) or AUTH_FAILURE_TEXT.search(response.text[:200])
        if case.valid_credentials and not refused:
            stats["authenticated"] += 1
        assert ledger_mismatches(gateway.engine) == []
        health = gateway.client.get("/healthz")
        assert health.status_code == 200, health.text

    fuzz()
    if dialect_of(operation.path) != "public":
        assert stats["authenticated"] >= MIN_AUTHENTICATED_SHARE * stats["cases"], stats
