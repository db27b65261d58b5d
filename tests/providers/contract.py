"""The contract every provider dialect keeps, tested once and run against each.

A dialect's test module subclasses :class:`DialectContract`, says how to make a well-formed send in its
own wire format, and how to recognise its own error answer for each case. The suite then checks that bad
credentials, unknown senders, malformed and out-of-range numbers, empty and oversized bodies, invalid
base64, insufficient credits, a wrong content type and a huge request each get the dialect's clean
error, never a 500, and leave nothing behind (no message stored, no credit taken).
"""

from __future__ import annotations

from typing import Any, ClassVar

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from tests.helpers import ManualClock, Tenant, make_tenant
from textgate.service.accounts import balance
from textgate.store.schema import messages

CASES = (
    "bad_credentials",
    "unknown_sender",
    "malformed_number",
    "out_of_range_number",
    "empty_body",
    "oversized_body",
    "invalid_base64",
    "insufficient_credits",
    "wrong_content_type",
    "huge_request",
)


class DialectContract:
    #: Cases the dialect cannot express (e.g. no base64 media): skipped with this reason.
    not_applicable: ClassVar[dict[str, str]] = {}
    #: The sender number the tenant owns, and a recipient in the form this dialect's examples use.
    sender = "+15551230001"
    recipient = "+15550001000"

    # -- what a dialect provides ----------------------------------------------------------------
    def send(self, client: TestClient, tenant: Tenant, **overrides: Any) -> httpx.Response:
        """A well-formed send for ``tenant``; ``overrides`` may set ``sender``, ``to``, ``body``,
        ``secret`` (wrong credentials), ``images`` (base64 media), ``content_type`` and ``raw`` (bytes
        to send as the whole body)."""
        raise NotImplementedError

    def assert_error(self, response: httpx.Response, case: str) -> None:
        """The dialect's own error answer for ``case`` (status code and body shape)."""
        raise NotImplementedError

    def assert_accepted(self, response: httpx.Response) -> None:
        assert 200 <= response.status_code < 300, response.text

    # -- fixtures ----------------------------------------------------------------------------------
    @pytest.fixture
    def tenant(self, engine: Engine, clock: ManualClock) -> Tenant:
        return make_tenant(engine, credits=100, number=self.sender, now=clock())

    # -- the contract ------------------------------------------------------------------------------
    def _stored(self, engine: Engine) -> int:
        with engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(messages)).scalar_one())

    def _check(
        self, engine: Engine, tenant: Tenant, response: httpx.Response, case: str, credits: int = 100
    ) -> None:
        assert response.status_code < 500, f"{case}: {response.status_code} {response.text[:300]}"
        self.assert_error(response, case)
        assert self._stored(engine) == 0, f"{case} left a message behind"
        with engine.connect() as conn:
            assert balance(conn, tenant.account.id) == credits, f"{case} took credits"

    def pytest_generate_tests(self, metafunc: pytest.Metafunc) -> None:
        # Cases a dialect cannot express are not generated at all (their reasons stay in the subclass),
        # so a run shows no skips: every collected case is really checked.
        if "case" in metafunc.fixturenames:
            metafunc.parametrize("case", [c for c in CASES if c not in self.not_applicable])

    def test_well_formed_send_is_accepted(self, client: TestClient, tenant: Tenant, engine: Engine) -> None:
        self.assert_accepted(self.send(client, tenant))
        assert self._stored(engine) == 1

    def test_bad_request_gets_a_clean_error(
        self, case: str, client: TestClient, tenant: Tenant, engine: Engine, clock: ManualClock
    ) -> None:
        credits = 100
        if case == "bad_credentials":
            response = self.send(client, tenant, secret="tgs_" + "x" * 32)
        elif case == "unknown_sender":
            response = self.send(client, tenant, sender="+15557654321")
        elif case == "malformed_number":
            response = self.send(client, tenant, to="not-a-number")
        elif case == "out_of_range_number":
            response = self.send(client, tenant, to="+999123456789")
        elif case == "empty_body":
            response = self.send(client, tenant, body="")
        elif case == "oversized_body":
            response = self.send(client, tenant, body="x" * 5000)
        elif case == "invalid_base64":
            response = self.send(client, tenant, images=["@@@ not base64 @@@"])
        elif case == "insufficient_credits":
            poor = make_tenant(engine, name="poor", credits=0, number="+15551239876", now=clock())
            response = self.send(client, poor, sender=poor.number)
            tenant, credits = poor, 0
        elif case == "wrong_content_type":
            response = self.send(client, tenant, content_type="text/plain")
        else:  # huge_request
            response = self.send(client, tenant, raw=b"x" * (21 * 1024 * 1024))
        self._check(engine, tenant, response, case, credits)
