"""Every example of Betatel's document, run against textgate with only the host and credentials replaced.

The document's recipient ``12345678548`` is read as international (``+1 234-567-8548``), which
libphonenumber accepts as a valid US number, so the examples succeed as written.
"""

from __future__ import annotations

import json
import re
import uuid

import phonenumbers
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from tests.helpers import Tenant
from tests.providers.betatel import examples
from tests.providers.betatel.conftest import PATH
from textgate.store.schema import messages

BASE = "http://testserver"


def _stored(engine: Engine) -> list[tuple[str, str, str]]:
    with engine.connect() as conn:
        rows = conn.execute(select(messages.c.from_addr, messages.c.to_addr, messages.c.body)).all()
    return [tuple(r) for r in rows]


def _assert_doc_answer(answer: dict[str, object]) -> None:
    shape = json.loads(examples.RESPONSE)
    assert set(answer) == set(shape)
    assert uuid.UUID(str(answer["messageId"])).version == uuid.UUID(str(shape["messageId"])).version == 1
    assert answer["from"] == "Sender"
    assert answer["to"] == "12345678548"


def test_the_doc_recipient_is_a_valid_international_number() -> None:
    number = phonenumbers.parse("+12345678548")
    assert phonenumbers.is_valid_number(number)
    assert phonenumbers.region_code_for_number(number) == "US"


def test_curl_example(client: TestClient, tenant: Tenant, engine: Engine) -> None:
    curl = examples.parse_curl(examples.substitute(examples.CURL, BASE, tenant.key.secret, tenant.key.key_id))
    assert curl.method == "POST"
    assert curl.url == BASE + PATH
    response = client.request(curl.method, curl.url, headers=curl.headers, content=curl.data)
    assert response.status_code == 200, response.text
    _assert_doc_answer(response.json())
    assert _stored(engine) == [("Sender", "+12345678548", "Your code is 555345")]


def test_request_body_example(client: TestClient, tenant: Tenant, engine: Engine) -> None:
    headers = {
        "Content-Type": "application/json",
        "x-api-key": tenant.key.secret,
        "x-user-id": tenant.key.key_id,
    }
    response = client.post(PATH, content=examples.REQUEST_BODY, headers=headers)
    assert response.status_code == 200, response.text
    _assert_doc_answer(response.json())


def _between(text: str, start: str, end: str) -> str:
    found = re.search(re.escape(start) + "(.*?)" + re.escape(end), text, re.S)
    assert found is not None, start
    return found.group(1)


def test_other_language_snippets_send_the_same_accepted_request(
    client: TestClient, tenant: Tenant, engine: Engine
) -> None:
    """Node, PHP, Java and C# cannot run here without their HTTP libraries; what they put on the wire —
    URL, headers and body as the snippets spell them — is sent as is."""
    secret, key_id = tenant.key.secret, tenant.key.key_id
    node = examples.substitute(examples.NODE, BASE, secret, key_id)
    php = examples.substitute(examples.PHP, BASE, secret, key_id)
    java = examples.substitute(examples.JAVA, BASE, secret, key_id)
    csharp = examples.substitute(examples.CSHARP, BASE, secret, key_id)
    auth = {"x-api-key": secret, "x-user-id": key_id}
    requests = [
        (
            _between(node, "url: '", "'"),
            json.dumps(json.loads(_between(node, "JSON.stringify(", ");"))),  # JSON.stringify's compact text
        ),
        (_between(php, "CURLOPT_URL => '", "'"), _between(php, "CURLOPT_POSTFIELDS =>'", "',")),
        (_between(java, 'Unirest.post("', '")'), _between(java, '.body("', '")').replace('\\"', '"')),
        (
            _between(csharp, 'HttpMethod.Post, "', '")'),
            _between(csharp, 'new StringContent("', '", null').replace('\\"', '"'),
        ),
    ]
    for url, body in requests:
        assert url == BASE + PATH
        response = client.post(url, content=body, headers={"Content-Type": "application/json", **auth})
        assert response.status_code == 200, response.text
        _assert_doc_answer(response.json())
    assert len(_stored(engine)) == 4


def test_response_example_recipient_comes_back_in_the_same_form(client: TestClient, tenant: Tenant) -> None:
    doc = json.loads(examples.RESPONSE)
    headers = {
        "Content-Type": "application/json",
        "x-api-key": tenant.key.secret,
        "x-user-id": tenant.key.key_id,
    }
    body = {"from": doc["from"], "to": doc["to"], "text": "Your code is 555345"}
    response = client.post(PATH, json=body, headers=headers)
    assert response.status_code == 200, response.text
    assert {k: v for k, v in response.json().items() if k != "messageId"} == {
        "from": "Sender",
        "to": "38161444555",
    }


def test_response_example_message_id_is_not_one_of_ours(client: TestClient, tenant: Tenant) -> None:
    doc = json.loads(examples.RESPONSE)
    headers = {"x-api-key": tenant.key.secret, "x-user-id": tenant.key.key_id}
    response = client.get(f"{PATH}/{doc['messageId']}", headers=headers)
    assert response.status_code == 404
    assert response.json() == {
        "statusCode": 404,
        "message": "message '0a62face-6d15-11f0-962f-d89d6729654c' not found",
        "error": "Not Found",
    }
