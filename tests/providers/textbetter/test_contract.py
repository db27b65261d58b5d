"""The dialect contract, once for v2 (400 with TextBetter's three fields) and once for v1 (HTTP 200 with an
error text instead of ``Success!``)."""

from __future__ import annotations

from typing import Any, ClassVar

import httpx
import orjson
from fastapi.testclient import TestClient

from tests.helpers import Tenant
from tests.providers.contract import DialectContract

COMBINATION = "Invalid Company/KEY/DID combination"
#: What each case's message must contain (v2 message, v1 text).
EXPECTED = {
    "bad_credentials": COMBINATION,
    "unknown_sender": COMBINATION,
    "malformed_number": "'not-a-number' is not an 11-digit number",
    "out_of_range_number": "'999123456789' is not an 11-digit number",
    "empty_body": "is required",
    "oversized_body": "5000 characters; at most 1600",
    "invalid_base64": "images[0] is not valid base64",
    "insufficient_credits": "Insufficient credits",
    "wrong_content_type": "Content-Type must be application/json, not text/plain",
    "huge_request": "request body larger than 20971520 bytes",
}


def digits(number: str) -> str:
    """The contract's numbers in TextBetter's form: E.164 without '+' (malformed input passes as it is)."""
    return number.removeprefix("+")


class TestContract(DialectContract):
    def send(self, client: TestClient, tenant: Tenant, **overrides: Any) -> httpx.Response:
        url = f"/api/SendOutgoingMessages?code={tenant.key.key_id}"
        headers = {"content-type": overrides.get("content_type", "application/json")}
        if "raw" in overrides:
            return client.post(url, content=overrides["raw"], headers=headers)
        body: dict[str, Any] = {
            "fromNumber": digits(overrides.get("sender", self.sender)),
            "toNumber": [digits(overrides.get("to", self.recipient))],
            "body": overrides.get("body", "Hello World"),
            "APIKey": overrides.get("secret", tenant.key.secret),
        }
        if "images" in overrides:
            n = len(overrides["images"])
            body |= {
                "images": overrides["images"],
                "contentTypes": ["image/png"] * n,
                "filenames": ["a.png"] * n,
            }
        return client.post(url, content=orjson.dumps(body), headers=headers)

    def assert_accepted(self, response: httpx.Response) -> None:
        assert response.status_code == 201, response.text
        body = response.json()
        assert body["message"] == "Valid Message" and body["RecordID"] == body["CarrierID"] != "0"

    def assert_error(self, response: httpx.Response, case: str) -> None:
        assert response.status_code == 400, response.text
        body = response.json()
        assert set(body) == {"message", "CarrierID", "RecordID"}
        assert (body["CarrierID"], body["RecordID"]) == ("0", "0")
        assert EXPECTED[case] in body["message"], body["message"]
        if case in ("bad_credentials", "unknown_sender"):
            assert body["message"] == COMBINATION


class TestContractV1(DialectContract):
    not_applicable: ClassVar[dict[str, str]] = {
        "invalid_base64": "v1 sends text only; it has no media fields",
        "wrong_content_type": "v1 is a GET with its parameters in the querystring; there is no body to type",
        "huge_request": "v1 is a GET with its parameters in the querystring; a body over 20 MB (a form POST) "
        "is answered with v1's HTTP 200 error text, tested in test_cross_dialect",
    }

    def send(self, client: TestClient, tenant: Tenant, **overrides: Any) -> httpx.Response:
        params = {
            "KEY": overrides.get("secret", tenant.key.secret),
            "DID": digits(overrides.get("sender", self.sender)),
            "ToNumber": digits(overrides.get("to", self.recipient)),
            "Message": overrides.get("body", "Hello World"),
        }
        return client.get("/SendTexts.aspx", params=params)

    def assert_accepted(self, response: httpx.Response) -> None:
        assert response.status_code == 200
        assert response.text == "Success!"

    def assert_error(self, response: httpx.Response, case: str) -> None:
        assert response.status_code == 200
        assert response.text != "Success!"
        assert response.text.startswith("Error: ")
        assert EXPECTED[case] in response.text, response.text
