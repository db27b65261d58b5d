"""TextBetter's examples, copied verbatim from its document, and helpers the v2 tests share."""

from __future__ import annotations

import base64
import json
import re
from typing import Any

import httpx
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from tests.helpers import Tenant
from tests.providers.textbetter.conftest import RECIPIENT, SENDER
from textgate.store.schema import messages

# -- the document's examples, verbatim --------------------------------------------------------------
SMS_CURL = """curl --location --globoff 'https://api2.textbetter.com/api/SendOutgoingMessages?code={FUNCTION_CODE}' \\
--header 'Content-Type: application/json' \\
--data '{
"fromNumber": "15551230001",
"toNumber": ["12003004001"],
"body": "Hello World",
"APIKey": "YOUR_CUSTOMER_API_KEY"
}'"""  # noqa: E501 - verbatim

SMS_BODY = """{
"fromNumber": "15551230001",
"toNumber": ["12003004001"],
"body": "Hello World",
"APIKey": "YOUR_CUSTOMER_API_KEY"
}"""

MMS_CURL = """curl --location --globoff 'https://api2.textbetter.com/api/SendOutgoingMessages?code={FUNCTION_CODE}' \\
--header 'Content-Type: application/json' \\
--data '{
"fromNumber": "15551230001",
"toNumber": ["12003004001"],
"body": "Here is the image",
"APIKey": "YOUR_CUSTOMER_API_KEY",
"filenames": ["image.jpg"],
"contentTypes": ["image/jpeg"],
"images": ["BASE64_ENCODED_IMAGE"]
}'"""  # noqa: E501 - verbatim

MMS_BODY = """{
"fromNumber": "15551230001",
"toNumber": ["12003004001"],
"body": "Here is the image",
"APIKey": "YOUR_CUSTOMER_API_KEY",
"filenames": ["image.jpg"],
"contentTypes": ["image/jpeg"],
"images": ["BASE64_ENCODED_IMAGE"]
}"""

SUCCESS_EXAMPLE = """{
"message": "Valid Message",
"CarrierID": "17685045592347zt2zp3ohfr5mbmo",
"RecordID": "68041609"
}"""

ERROR_EXAMPLE = """{
"message": "Invalid Company/KEY/DID combination",
"CarrierID": "0",
"RecordID": "0"
}"""

#: A real 1x1 PNG, to stand in for the document's placeholder.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
)
PNG_B64 = base64.b64encode(PNG).decode()
#: What textgate answers for the document's recipient: +1 200 is not an assigned area code.
UNASSIGNED = "toNumber[0]: '12003004001' is not a valid phone number: not an assigned number range"


def parse_curl(command: str) -> tuple[str, dict[str, str], str]:
    """(URL, headers, --data) of the document's curl command."""
    url = re.search(r"--globoff '([^']+)'", command)
    data = re.search(r"--data '(.*)'$", command, re.DOTALL)
    assert url is not None and data is not None
    headers = dict(h.split(": ", 1) for h in re.findall(r"--header '([^']+)'", command))
    return url.group(1), headers, data.group(1)


def substitute(url: str, data: str, tenant: Tenant) -> tuple[str, str]:
    """Only the base URL and the credentials change."""
    path = url.removeprefix("https://api2.textbetter.com").replace("{FUNCTION_CODE}", tenant.key.key_id)
    return path, data.replace("YOUR_CUSTOMER_API_KEY", tenant.key.secret)


def post(client: TestClient, tenant: Tenant, body: dict[str, Any], **kw: Any) -> httpx.Response:
    return client.post(f"/api/SendOutgoingMessages?code={tenant.key.key_id}", json=body, **kw)


def payload(tenant: Tenant, **fields: Any) -> dict[str, Any]:
    return {
        "fromNumber": SENDER,
        "toNumber": [RECIPIENT],
        "body": "Hello World",
        "APIKey": tenant.key.secret,
    } | fields


def stored(engine: Engine) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(select(messages).order_by(messages.c.created_at, messages.c.id)).all())


def assert_error(response: httpx.Response, message: str | None = None) -> str:
    assert response.status_code == 400, response.text
    body = response.json()
    assert set(body) == set(json.loads(ERROR_EXAMPLE))
    assert (body["CarrierID"], body["RecordID"]) == ("0", "0")
    if message is not None:
        assert body["message"] == message
    return str(body["message"])


# -- v1 (querystring) examples ---------------------------------------------------------------------------
URL_EXAMPLE = "https://api.textbetter.com/SendTexts.aspx?KEY=YOUR_KEY&DID=15551230001&ToNumber=12003004001&Message=Hello%20World"
CURL_EXAMPLE = "curl 'https://api.textbetter.com/SendTexts.aspx?KEY=YOUR_KEY&DID=15551230001&ToNumber=12003004001&Message=Hello%20World'"
