"""The contract every dialect keeps, run against both BestSMS surfaces: ``/bestsms/send`` (parameters,
plain-text errors) and the v3.00 REST API (JSON, ``{"Result", "ErrorMessage"}`` errors)."""

from __future__ import annotations

from typing import Any, ClassVar

import httpx
import orjson
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from tests.helpers import ManualClock, Tenant, make_tenant
from tests.providers.contract import DialectContract
from textgate.service.accounts import create_key

#: The reason each case's error must give (its start), besides the status code.
REASONS = {
    "bad_credentials": "invalid Sender or Token",
    "unknown_sender": "FromNumber +15557654321 is not an active number of this account",
    "malformed_number": "'not-a-number' is not a valid phone number",
    "out_of_range_number": "'+999123456789' is not a valid phone number",
    "empty_body": "Message is required",
    "oversized_body": "Message is 5000 characters; at most 1600",
    "insufficient_credits": "this send costs 1 credits and the balance is 0",
    "huge_request": "request body larger than 20971520 bytes",
}


class TestContract(DialectContract):
    """``/bestsms/send`` with the parameters as a form body."""

    not_applicable: ClassVar[dict[str, str]] = {
        "unknown_sender": "BestSMS's send has no originator parameter: the Sender is the credential (see "
        "bad_credentials) and the number sent from is the account's (tested in TestRestContract)",
        "invalid_base64": "BestSMS's send carries no media, so nothing is base64",
    }

    @pytest.fixture
    def tenant(self, engine: Engine, clock: ManualClock) -> Tenant:
        base = make_tenant(engine, credits=100, number=self.sender, now=clock())
        with engine.begin() as conn:
            named = create_key(conn, base.account.id, now=clock(), name="api@department01.co")
        return Tenant(account=base.account, key=named, number=base.number)

    def send(self, client: TestClient, tenant: Tenant, **overrides: Any) -> httpx.Response:
        # Keys without a name (the contract's second tenant) are addressed by their id.
        params = {
            "Sender": tenant.key.name or tenant.key.key_id,
            "Token": overrides.get("secret", tenant.key.secret),
            "Number": overrides.get("to", self.recipient),
            "Message": overrides.get("body", "Hello, this is a test message from Department01. Thank you."),
        }
        if "raw" in overrides:
            return client.post(
                "/bestsms/send", content=overrides["raw"], headers={"content-type": "text/plain"}
            )
        if "content_type" in overrides:
            encoded = str(httpx.QueryParams(params)).encode()
            return client.post(
                "/bestsms/send", content=encoded, headers={"content-type": overrides["content_type"]}
            )
        return client.post("/bestsms/send", data=params)

    def assert_accepted(self, response: httpx.Response) -> None:
        assert response.status_code == 200, response.text
        assert response.json()["Result"] == "Success"

    def assert_error(self, response: httpx.Response, case: str) -> None:
        expected = 401 if case == "bad_credentials" else 400
        assert response.status_code == expected, response.text
        assert response.headers["content-type"].startswith("text/plain")
        if case == "wrong_content_type":
            assert response.text.startswith("unsupported Content-Type 'text/plain'")
        else:
            assert REASONS[case] in response.text, response.text


class TestRestContract(DialectContract):
    """The v3.00 REST API's ``POST /api/v3.00/sms``, as the SDK sends it."""

    not_applicable: ClassVar[dict[str, str]] = {
        "invalid_base64": "attachments (Files) are refused outright, so their base64 is never read",
    }

    def send(self, client: TestClient, tenant: Tenant, **overrides: Any) -> httpx.Response:
        body = {
            "Message": overrides.get("body", "Test SMS Message"),
            "Destinations": [{"ToNumber": overrides.get("to", self.recipient)}],
            "FromNumber": overrides.get("sender", tenant.number),
        }
        headers = {"Authorization": f"Bearer {overrides.get('secret', tenant.key.secret)}"}
        if "raw" in overrides:
            return client.post("/api/v3.00/sms", content=overrides["raw"], headers=headers)
        if "content_type" in overrides:
            headers["content-type"] = overrides["content_type"]
            return client.post("/api/v3.00/sms", content=orjson.dumps(body), headers=headers)
        return client.post("/api/v3.00/sms", json=body, headers=headers)

    def assert_accepted(self, response: httpx.Response) -> None:
        assert response.status_code == 200, response.text
        assert response.json()["Result"] == "Success"

    def assert_error(self, response: httpx.Response, case: str) -> None:
        body = response.json()
        if case == "bad_credentials":
            assert response.status_code == 401
            assert body == {"Result": "Unauthorized", "ErrorMessage": ["invalid AuthToken"]}
            return
        assert response.status_code == 400, response.text
        assert body["Result"] == "Failed"
        (reason,) = body["ErrorMessage"]
        if case == "wrong_content_type":
            assert reason == "Content-Type must be application/json, not 'text/plain'"
        else:
            assert REASONS[case] in reason, reason
