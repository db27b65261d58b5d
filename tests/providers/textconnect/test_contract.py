"""The dialect contract every provider keeps, in Text-Connect's words: a plain-text 200 whose body is the
negative code.

Text-Connect accepts any sender ID, so an unknown sender is only an error on an account restricted to its
own numbers: the contract's tenant is such an account, and sends from its own number (by POST, as the
document advises for sends).
"""

from __future__ import annotations

import re
from typing import Any, ClassVar
from urllib.parse import urlencode

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from tests.helpers import ManualClock, Tenant, make_tenant
from tests.providers.contract import DialectContract
from tests.providers.textconnect.util import PATH, SENDER, TO

EXPECTED: dict[str, str] = {
    "bad_credentials": "-501",
    "unknown_sender": "-403",
    "malformed_number": "-401",
    "out_of_range_number": "-401",
    "empty_body": "-519",
    "oversized_body": "-507",
    "insufficient_credits": "-100",
    "wrong_content_type": "-507",
    "huge_request": "-507",
}


class TestContract(DialectContract):
    not_applicable: ClassVar[dict[str, str]] = {
        "invalid_base64": "Text-Connect's API sends text only: nothing in it is base64-encoded",
    }
    sender = SENDER
    recipient = TO

    @pytest.fixture
    def tenant(self, engine: Engine, clock: ManualClock) -> Tenant:
        return make_tenant(engine, credits=100, number=self.sender, region="GB", now=clock())

    def send(self, client: TestClient, tenant: Tenant, **overrides: Any) -> httpx.Response:
        fields = {
            "Token": overrides.get("secret", tenant.key.secret),
            "Action": "Send",
            "DestinationAddress": overrides.get("to", self.recipient),
            "SourceAddress": overrides.get("sender", tenant.number).lstrip("+"),
            "Body": overrides.get("body", "Hello World"),
        }
        headers = {"Content-Type": overrides.get("content_type", "application/x-www-form-urlencoded")}
        content = overrides["raw"] if "raw" in overrides else urlencode(fields).encode()
        response: httpx.Response = client.post(PATH, content=content, headers=headers)
        return response

    def assert_accepted(self, response: httpx.Response) -> None:
        assert response.status_code == 200, response.text
        assert re.fullmatch(r"msg_[A-Za-z0-9]{22}", response.text), response.text

    def assert_error(self, response: httpx.Response, case: str) -> None:
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("text/plain")
        assert response.text == EXPECTED[case], f"{case}: {response.text!r}"
