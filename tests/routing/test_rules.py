"""Route rules: each kind given must match, any value of a kind may; the first matching route wins."""

from __future__ import annotations

import asyncio

import pytest

from tests.routing.fakes import FakeConnector, member, message
from textgate.domain.errors import CarrierError, ErrorKind
from textgate.providers.base import Submitted
from textgate.routing.config import RouteSpec
from textgate.routing.router import Router
from textgate.routing.rules import RouteRules


def rules(**table: object) -> RouteRules:
    return RouteRules.parse(table)


@pytest.mark.parametrize(
    ("table", "kw", "expected"),
    [
        ({}, {}, True),  # no rules: everything
        ({"prefixes": ["44"]}, {"to": "+447400123456"}, True),
        ({"prefixes": ["+44", "+33"]}, {"to": "+33612345678"}, True),
        ({"prefixes": ["+44"]}, {"to": "+15551230002"}, False),
        ({"countries": ["GB"]}, {"to": "+447400123456"}, True),
        ({"countries": ["CA"]}, {"to": "+14165550123"}, True),  # +1 416 is Toronto, not the US
        ({"countries": ["US"]}, {"to": "+14165550123"}, False),
        ({"countries": ["FR"]}, {"to": "+447400123456"}, False),
        ({"senders": ["ACME"]}, {"from_addr": "acme"}, True),  # alphanumeric senders ignore case
        ({"senders": ["ACME"]}, {"from_addr": "ACME2"}, False),
        ({"senders": ["+1555*"]}, {"from_addr": "+15551230001"}, True),
        ({"senders": ["+1666*", "+15551230001"]}, {"from_addr": "+15551230001"}, True),
        ({"accounts": ["acc_1", "acc_2"]}, {"account_id": "acc_2"}, True),
        ({"accounts": ["acc_1"]}, {"account_id": "acc_9"}, False),
        ({"message_types": ["mms"]}, {"type": "mms"}, True),
        ({"message_types": ["mms"]}, {"type": "sms"}, False),
        # Every kind given must match.
        ({"countries": ["GB"], "message_types": ["mms"]}, {"to": "+447400123456", "type": "sms"}, False),
        ({"countries": ["GB"], "accounts": ["acc_1"]}, {"to": "+447400123456", "account_id": "acc_1"}, True),
    ],
)
def test_matching(table: dict[str, object], kw: dict[str, str], expected: bool) -> None:
    to = kw.pop("to", "+447400123456")
    assert rules(**table).matches(message(to, **kw)) is expected


def router(*specs: RouteSpec) -> tuple[Router, dict[str, FakeConnector]]:
    fakes = {n: FakeConnector(n) for n in ("uk", "mms", "fallback")}
    return Router([member(f) for f in fakes.values()], specs), fakes


def test_the_first_matching_route_wins_and_no_match_is_a_permanent_routing_error() -> None:
    r, fakes = router(
        RouteSpec("mms", ("mms",), rules=rules(message_types=["mms"])),
        RouteSpec("uk", ("uk",), rules=rules(countries=["GB"])),
        RouteSpec("us-sender", ("fallback",), rules=rules(senders=["+1555*"])),
    )
    uk_mms = message("+447400123456", type="mms")
    uk_sms = message("+447400123456")
    other = message("+33612345678")
    nowhere = message("+33612345678", from_addr="ACME")
    outcomes = asyncio.run(r.submit_many([uk_mms, uk_sms, other, nowhere]))
    assert outcomes[0] == Submitted(f"mms-{uk_mms.id}", "mms")  # listed first, so it wins over "uk"
    assert outcomes[1] == Submitted(f"uk-{uk_sms.id}", "uk")
    assert outcomes[2] == Submitted(f"fallback-{other.id}", "fallback")
    error = outcomes[3]
    assert isinstance(error, CarrierError)
    assert (error.kind, error.retryable) == (ErrorKind.ROUTING_ERROR, False)
    assert nowhere.id not in {i for f in fakes.values() for i in f.submitted}
