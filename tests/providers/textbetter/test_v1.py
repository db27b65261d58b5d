"""TextBetter v1 (``GET /SendTexts.aspx``): always HTTP 200, the body exactly ``Success!`` on success and an
explanatory ``Error: ...`` text otherwise. The document's URL example runs verbatim with KEY substituted."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from tests.helpers import ManualClock, Tenant, make_tenant
from tests.providers.textbetter.conftest import RECIPIENT, SENDER
from tests.providers.textbetter.support import CURL_EXAMPLE, URL_EXAMPLE
from textgate.service.accounts import balance, update_account
from textgate.service.optouts import opt_out
from textgate.store.schema import messages


def path_of(url: str, tenant: Tenant) -> str:
    """The example's path and query, with only KEY substituted."""
    parts = urlsplit(url.replace("YOUR_KEY", tenant.key.secret))
    return f"{parts.path}?{parts.query}"


def get(client: TestClient, tenant: Tenant, **params: Any) -> httpx.Response:
    query = {
        "KEY": tenant.key.secret,
        "DID": SENDER,
        "ToNumber": RECIPIENT,
        "Message": "Hello World",
    } | params
    return client.get("/SendTexts.aspx", params={k: v for k, v in query.items() if v is not None})


def rows(engine: Engine) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(select(messages)).all())


def error_text(response: httpx.Response) -> str:
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert response.text != "Success!"
    assert response.text.startswith("Error: ")
    return response.text


def test_documented_url_example_verbatim(client: TestClient, tenant: Tenant, engine: Engine) -> None:
    assert f"curl '{URL_EXAMPLE}'" == CURL_EXAMPLE
    response = client.get(path_of(URL_EXAMPLE, tenant))
    # Verbatim, the example's recipient (+1 200 300 4001: possible, not yet assigned) included: sent.
    assert response.status_code == 200
    assert response.text == "Success!"
    assert response.headers["content-type"].startswith("text/plain")
    (row,) = rows(engine)
    assert (row.from_addr, row.to_addr, row.body, row.status) == (
        "+15551230001",
        "+12003004001",
        "Hello World",
        "queued",
    )


def test_errors_are_http_200_with_a_reason(
    client: TestClient, tenant: Tenant, engine: Engine, clock: ManualClock
) -> None:
    other = make_tenant(engine, name="other", number="+15551230002", now=clock())
    combo = "Error: Invalid Company/KEY/DID combination"
    assert error_text(get(client, tenant, KEY="tgs_wrong")) == combo
    assert error_text(get(client, tenant, DID="15551230002")) == combo  # another account's number
    assert error_text(get(client, other, DID=SENDER)) == combo
    assert error_text(get(client, tenant, KEY=None)) == f"{combo}: KEY is missing"
    assert error_text(get(client, tenant, KEY="tgs_wrong", ToNumber="+1")) == combo  # credentials first
    assert error_text(get(client, tenant, ToNumber="+15550001000")) == (
        "Error: ToNumber: '+15550001000' is not an 11-digit number: "
        "write it as 15550001000 (digits only, no '+')"
    )
    assert error_text(get(client, tenant, DID="555-123-0001")) == (
        "Error: DID: '555-123-0001' is not an 11-digit number: put the country code first and write digits "
        "only, e.g. 15551230001"
    )
    assert (
        error_text(get(client, tenant, ToNumber=None))
        == "Error: ToNumber is required (11 digits, e.g. 15551230001)"
    )
    assert error_text(get(client, tenant, ToNumber="15550001000,15550001001")) == (
        "Error: ToNumber takes one number per request (use v2 for several)"
    )
    assert error_text(get(client, tenant, Message="")) == "Error: Message is required"
    assert (
        error_text(get(client, tenant, Message="x" * 1601))
        == "Error: Message is 1601 characters; at most 1600"
    )
    with engine.begin() as conn:
        update_account(conn, tenant.account.id, settings={"allowed_destination_prefixes": ["+61"]})
    assert error_text(get(client, tenant)) == (
        "Error: ToNumber: +15550001000 is outside this account's allowed destination prefixes (+61)"
    )
    assert rows(engine) == []
    with engine.connect() as conn:
        assert balance(conn, tenant.account.id) == 100


def test_opted_out_recipient_and_no_credits(
    client: TestClient, tenant: Tenant, engine: Engine, clock: ManualClock
) -> None:
    with engine.begin() as conn:
        opt_out(conn, tenant.account.id, "+15550001000", word="STOP", now=clock())
    assert error_text(get(client, tenant)) == (
        "Error: Message not sent: 15550001000: "
        "The recipient has opted out from receiving messages from this sender."
    )
    poor = make_tenant(engine, name="poor", credits=0, number="+15551239876", now=clock())
    assert error_text(get(client, poor, DID="15551239876")) == (
        "Error: Insufficient credits: this send costs 1 credits and the balance is 0"
    )


@pytest.mark.parametrize("path", ["/SendTexts.aspx", "/sendtexts.aspx"])
def test_parameter_names_are_case_insensitive_and_post_works(
    client: TestClient, tenant: Tenant, engine: Engine, path: str
) -> None:
    lower = {"key": tenant.key.secret, "did": SENDER, "tonumber": RECIPIENT, "message": "a+b c"}
    assert client.get(path, params=lower).text == "Success!"
    assert client.post(path, data=lower).text == "Success!"
    # '+' in a query is a space, as in every form decoder; %2B is a plus.
    raw = f"{path}?KEY={tenant.key.secret}&DID={SENDER}&ToNumber={RECIPIENT}&Message=1%2B1+is+2"
    assert client.get(raw).text == "Success!"
    assert sorted(r.body for r in rows(engine)) == ["1+1 is 2", "a+b c", "a+b c"]
