"""The dialect contract for Betatel.

A numeric sender must be one of the account's active numbers (textgate's default sender policy), so the
contract's unknown sender is refused on an ordinary account; the tenant sends from its own number.
"""

from __future__ import annotations

from typing import Any, ClassVar

import httpx
import orjson
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from tests.helpers import ManualClock, Tenant, make_tenant
from tests.providers.betatel.conftest import PATH
from tests.providers.contract import DialectContract

#: (HTTP status, a word the message must contain) per case; huge requests are refused by the size limit.
EXPECTED: dict[str, tuple[int, str]] = {
    "bad_credentials": (401, "API key"),
    "unknown_sender": (400, "from"),
    "malformed_number": (400, "to"),
    "out_of_range_number": (400, "to"),
    "empty_body": (400, "text"),
    "oversized_body": (400, "text"),
    "insufficient_credits": (402, "credits"),
    "wrong_content_type": (400, "Content-Type"),
    "huge_request": (413, ""),
}
PHRASES = {400: "Bad Request", 401: "Unauthorized", 402: "Payment Required"}


class TestContract(DialectContract):
    not_applicable: ClassVar[dict[str, str]] = {
        "invalid_base64": "Betatel's SMS API carries no media: nothing in it is base64-encoded",
    }
    recipient = "15550001000"  # international digits without '+', as Betatel's examples write numbers

    @pytest.fixture
    def tenant(self, engine: Engine, clock: ManualClock) -> Tenant:
        return make_tenant(engine, credits=100, number=self.sender, now=clock())

    def send(self, client: TestClient, tenant: Tenant, **overrides: Any) -> httpx.Response:
        payload = {
            "from": overrides.get("sender", tenant.number.lstrip("+")),
            "to": overrides.get("to", self.recipient),
            "text": overrides.get("body", "Your code is 555345"),
        }
        headers = {
            "Content-Type": overrides.get("content_type", "application/json"),
            "x-api-key": overrides.get("secret", tenant.key.secret),
            "x-user-id": tenant.key.key_id,
        }
        content = overrides["raw"] if "raw" in overrides else orjson.dumps(payload)
        return client.post(PATH, content=content, headers=headers)

    def assert_accepted(self, response: httpx.Response) -> None:
        assert response.status_code == 200, response.text
        assert set(response.json()) == {"messageId", "from", "to"}

    def assert_error(self, response: httpx.Response, case: str) -> None:
        status, word = EXPECTED[case]
        assert response.status_code == status, response.text
        if case == "huge_request":
            return  # the request never reaches the dialect
        body = response.json()
        assert body == {"statusCode": status, "message": body["message"], "error": PHRASES[status]}
        assert word in body["message"], body
