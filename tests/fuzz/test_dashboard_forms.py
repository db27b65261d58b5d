"""Property-based fuzzing of every dashboard route, signed in, with a valid CSRF token so that the cases
reach past the session and the token check.

For each route of the dashboard's router (and ``/l/{code}``): path parameters are real ids of the
account's own objects, another account's ids, or hostile text; the query and the form carry field names
the dashboard's own templates use (harvested from them) with hostile or plausible values, sent as
percent-encoded bytes (lone surrogates become invalid UTF-8). GETs run as the account and as an operator;
POSTs as the account (an operator's forms could suspend the account the session belongs to).

What must hold after every case: no 5xx (an exception escaping the app fails the case too), every
account's balance equals the sum of its ledger entries, and ``/healthz`` answers 200.

To fuzz longer: ``TEXTGATE_FUZZ_EXAMPLES=200 .venv/bin/pytest tests/fuzz/test_dashboard_forms.py``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine

from tests.fuzz.test_entry_points import HOSTILE_STRINGS, hostile_text, ledger_mismatches, pct
from tests.web.dashboard_kit import PASSWORD, csrf_of, dashboard_gateway, send, sign_in
from textgate.web.dashboard import common

EXAMPLES = int(os.environ.get("TEXTGATE_FUZZ_EXAMPLES", "25"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.function_scoped_fixture,
    ],
)
TEMPLATES = Path(common.HERE) / "templates"
#: Every form field and query parameter name the dashboard's pages use.
FIELD_NAMES = sorted(
    {m for t in TEMPLATES.glob("*.html") for m in re.findall(r'name="([\w\-\[\].]+)"', t.read_text())}
    | {"account", "days", "cursor", "done", "endpoint", "from", "to", "type", "text", "status", "number"}
)


@dataclass
class Dashboard:
    client: TestClient
    operator: TestClient
    engine: Engine
    ids: dict[str, list[str]]


def _routes() -> list[tuple[str, str]]:
    # The page modules add their routes to the shared router when imported (as install_dashboard does).
    from textgate.web.dashboard import contacts, contacts_import, keys, numbers, reports, users, webhooks  # noqa: F401
    from textgate.web.dashboard import settings as settings_page  # noqa: F401

    found = []
    for route in common.router.routes:
        if isinstance(route, APIRoute) and not route.path.endswith(("/login", "/logout")):
            for method in sorted(route.methods - {"HEAD"}):
                found.append((method, route.path))
    found.append(("GET", "/l/{code}"))
    return found


ROUTES = _routes()


@pytest.fixture(scope="module")
def dashboard(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dashboard]:
    gateway = dashboard_gateway(tmp_path_factory.mktemp("dashboard-fuzz"))
    client, engine, acme, other = next(gateway)
    try:
        mine = send(client, acme, body="fuzz https://example.com/x")
        theirs = send(client, other, body="other's")
        # A second client of the same running app (no second lifespan), signed in as the operator.
        operator = TestClient(client.app, base_url="http://127.0.0.1")
        assert sign_in(operator, "ops", PASSWORD, operator="1").status_code == 303
        assert sign_in(client, "acme-admin").status_code == 303
        ids = {
            "message_id": [mine, theirs],
            "number": [acme.number, other.number],
            "key_id": [acme.key.key_id, other.key.key_id],
            "account": [acme.account.id, other.account.id],
        }
        yield Dashboard(client, operator, engine, ids)
    finally:
        gateway.close()


def _path_value(name: str, d: Dashboard) -> st.SearchStrategy[str]:
    known = d.ids.get(name, []) + d.ids["message_id"] + d.ids["key_id"]
    return st.one_of(st.sampled_from(known), hostile_text)


@st.composite
def cases(draw: st.DrawFn, method: str, path: str, d: Dashboard) -> tuple[str, str, bytes | None]:
    url = path
    for name in re.findall(r"{(\w+)}", path):
        url = url.replace("{" + name + "}", pct(draw(_path_value(name, d))) or "x")
    value = st.one_of(hostile_text, st.sampled_from(d.ids["account"] + d.ids["number"]), st.just(""))
    pairs = [(n, draw(value)) for n in draw(st.lists(st.sampled_from(FIELD_NAMES), max_size=6, unique=True))]
    if draw(st.integers(0, 9)) == 0:
        pairs.append((draw(st.sampled_from(HOSTILE_STRINGS)), draw(hostile_text)))
    encoded = "&".join(f"{pct(k)}={pct(v)}" for k, v in pairs)
    if method == "GET":
        return url + ("?" + encoded if encoded else ""), "GET", None
    return url, method, encoded.encode("latin-1", "backslashreplace") if encoded else b""


def _check(d: Dashboard, client: TestClient, method: str, url: str, body: bytes | None) -> None:
    headers = {}
    if body is not None:
        csrf = csrf_of(client.get("/dashboard/messages").text)
        prefix = f"csrf={csrf}&".encode()
        body = prefix + body
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    r = client.request(method, url, content=body, headers=headers, follow_redirects=False)
    assert r.status_code < 500, f"{method} {url} {body!r:.300}: {r.status_code} {r.text[:500]}"
    assert ledger_mismatches(d.engine) == []
    assert client.get("/healthz").status_code == 200


@pytest.mark.parametrize(("method", "path"), ROUTES, ids=[f"{m} {p}" for m, p in ROUTES])
def test_dashboard_route_survives_hostile_input(dashboard: Dashboard, method: str, path: str) -> None:
    @FUZZ
    @given(case=cases(method, path, dashboard))
    def fuzz(case: tuple[str, str, bytes | None]) -> None:
        url, verb, body = case
        _check(dashboard, dashboard.client, verb, url, body)
        if verb == "GET":
            _check(dashboard, dashboard.operator, verb, url, body)

    fuzz()


def test_every_dashboard_route_is_fuzzed() -> None:
    assert len(ROUTES) >= 40, ROUTES
    assert len(FIELD_NAMES) >= 30, FIELD_NAMES
