"""The dialect contract every provider keeps, in TextingLine's words."""

from __future__ import annotations

import base64
from typing import Any, ClassVar

import httpx
from fastapi.testclient import TestClient

from tests.helpers import Tenant
from tests.providers.contract import DialectContract
from tests.providers.textingline.util import API

#: (HTTP status, TextingLine code, field) per contract case.
EXPECTED: dict[str, tuple[int, int, str | None]] = {
    "bad_credentials": (401, 401, None),
    "unknown_sender": (400, 33004, "from"),
    "malformed_number": (400, 400, "to"),
    "out_of_range_number": (400, 400, "to"),
    "empty_body": (400, 400, "body"),
    "oversized_body": (400, 400, "body"),
    "insufficient_credits": (402, 33023, "credits"),
    "wrong_content_type": (415, 415, None),
}


class TestContract(DialectContract):
    not_applicable: ClassVar[dict[str, str]] = {
        "invalid_base64": "TextingLine takes media by URL (mediaUrl), never as base64 content",
    }

    def send(self, client: TestClient, tenant: Tenant, **overrides: Any) -> httpx.Response:
        secret = overrides.get("secret", tenant.key.secret)
        basic = base64.b64encode(f"{tenant.key.key_id}:{secret}".encode()).decode()
        headers = {
            "Authorization": f"Basic {basic}",
            "Content-Type": overrides.get("content_type", "application/json"),
        }
        if "raw" in overrides:
            return client.post(API, content=overrides["raw"], headers=headers)
        payload = {
            "to": overrides.get("to", self.recipient),
            "from": overrides.get("sender", tenant.number),
            "body": overrides.get("body", "Your verification code is 482910"),
        }
        return client.post(API, json=payload, headers=headers)

    def assert_error(self, response: httpx.Response, case: str) -> None:
        if case == "huge_request":
            # The 20 MB request limit answers before any route runs (textgate's shared middleware).
            assert response.status_code == 413, response.text
            return
        status, code, field = EXPECTED[case]
        assert response.status_code == status, f"{case}: {response.text}"
        body = response.json()
        assert body == {"code": code, "message": body["message"], "field": field}, f"{case}: {body}"
        assert body["message"]
