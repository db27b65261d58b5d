"""The routing tables: the minimal example works as is; mistakes name the table and the key."""

from __future__ import annotations

import tomllib
from typing import Any

import pytest

from textgate.routing.config import RoutingConfigError, Strategy, parse_routing
from textgate.routing.registry import connector_types

MINIMAL = """
[[connectors]]
name = "smsc1"
type = "smpp"
host = "127.0.0.1"
port = 2775
system_id = "textgate"
password = "secret"

[[routes]]
name = "default"
connectors = ["smsc1"]
"""

TYPES = ["smpp", "simulator"]


def parse(text: str) -> Any:
    raw = tomllib.loads(text)
    return parse_routing(raw.get("connectors", []), raw.get("routes", []), raw.get("rate_limits"), TYPES)


def test_the_minimal_example_parses() -> None:
    config = parse(MINIMAL)
    (smsc,) = config.connectors
    assert (smsc.name, smsc.type) == ("smsc1", "smpp")
    assert smsc.table == {
        "name": "smsc1",
        "type": "smpp",
        "host": "127.0.0.1",
        "port": 2775,
        "system_id": "textgate",
        "password": "secret",
    }
    (route,) = config.routes
    assert (route.name, route.connectors, route.strategy) == ("default", ("smsc1",), Strategy.FAILOVER)
    assert not route.rules and route.rate is None
    assert not config.plain


def test_the_shipped_types_are_discovered() -> None:
    assert {"smpp", "simulator"} <= set(connector_types())


def test_nothing_configured_is_the_plain_simulator() -> None:
    config = parse_routing([], [], None, TYPES, simulator={"report_latency": 0.1})
    assert config.plain and config.implicit_simulator
    assert [c.name for c in config.connectors] == ["simulator"]
    assert config.connectors[0].table["report_latency"] == 0.1


def test_without_routes_every_connector_serves_one_default_route_in_order() -> None:
    config = parse(
        """
        [[connectors]]
        name = "a"
        type = "simulator"
        [[connectors]]
        name = "b"
        type = "simulator"
        failure_threshold = 2
        cooldown = 5
        """
    )
    assert [(r.name, r.connectors) for r in config.routes] == [("default", ("a", "b"))]
    b = config.connectors[1]
    assert (b.failure_threshold, b.cooldown) == (2, 5.0)
    assert "failure_threshold" not in b.table and "cooldown" not in b.table  # the router's, not the factory's


def test_everything_a_route_can_say() -> None:
    config = parse(
        MINIMAL
        + """
        [[connectors]]
        name = "smsc2"
        type = "smpp"
        host = "127.0.0.1"
        port = 2776
        system_id = "x"
        password = "y"

        [[routes]]
        name = "uk"
        prefixes = ["44", "+353"]
        countries = ["gb"]
        senders = ["ACME*", "+15551230001"]
        accounts = ["acc_1"]
        message_types = ["SMS"]
        connectors = ["smsc1", "smsc2"]
        strategy = "weighted"
        weights = [3, 1]
        rate = 20
        [rate_limits]
        per_account = 50
        burst = 100
        [rate_limits.accounts]
        acc_big = 500
        """
    )
    uk = config.routes[1]
    assert uk.rules.prefixes == ("+44", "+353")
    assert uk.rules.countries == ("GB",)
    assert uk.rules.message_types == ("sms",)
    assert (uk.strategy, uk.weights, uk.rate, uk.burst) == (Strategy.WEIGHTED, (3.0, 1.0), 20.0, 20.0)
    assert config.rate_limits.for_account("acc_big") == 500
    assert config.rate_limits.for_account("acc_other") == 50
    assert config.rate_limits.burst == 100


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ('[[routes]]\nname = "x"\nconnectors = ["nope"]', "[[routes]] \"x\": connectors names 'nope'"),
        (
            '[[routes]]\nname = "x"\nconnectors = ["smsc1"]\ncountry = ["GB"]',
            '[[routes]] "x": unknown key country',
        ),
        (
            '[[routes]]\nname = "x"\nconnectors = ["smsc1"]\nstrategy = "random"',
            '[[routes]] "x": strategy must be',
        ),
        (
            '[[routes]]\nname = "x"\nconnectors = ["smsc1"]\nstrategy = "weighted"',
            '[[routes]] "x": weights must list one number per connector',
        ),
        ('[[routes]]\nname = "x"\nconnectors = ["smsc1"]\nweights = [1]', "weights is only for"),
        (
            '[[routes]]\nname = "x"\nconnectors = ["smsc1"]\nrate = 0',
            '[[routes]] "x": rate must be more than 0',
        ),
        (
            '[[routes]]\nname = "x"\nconnectors = ["smsc1"]\nprefixes = ["4a"]',
            '[[routes]] "x": prefixes must',
        ),
        (
            '[[routes]]\nname = "x"\nconnectors = ["smsc1"]\ncountries = ["GBR"]',
            '[[routes]] "x": countries must',
        ),
        ('[[routes]]\nname = "x"\nconnectors = ["smsc1"]\nmessage_types = ["fax"]', "message_types must"),
        ('[[routes]]\nname = "x"\nconnectors = []', '[[routes]] "x": connectors must be a non-empty list'),
        ('[[routes]]\nname = "default"\nconnectors = ["smsc1"]', '[[routes]] "default": name is used by two'),
        ('[[connectors]]\nname = "z"\ntype = "carrier-pigeon"', '[[connectors]] "z": type must be one of'),
        ('[[connectors]]\nname = "smsc1"\ntype = "simulator"', '[[connectors]] "smsc1": name is used by two'),
        (
            '[[connectors]]\nname = "bad/name"\ntype = "simulator"',
            '[[connectors]] "bad/name": name is required',
        ),
        (
            '[[connectors]]\nname = "z"\ntype = "simulator"\ncooldown = "soon"',
            '"z": cooldown must be a number',
        ),
        ("[rate_limits]\nper_acount = 5", "[rate_limits]: unknown key per_acount"),
        (
            "[rate_limits]\n[rate_limits.accounts]\nacc_1 = -1",
            "[rate_limits]: accounts.acc_1 must be more than 0",
        ),
    ],
)
def test_mistakes_name_the_table_and_the_key(extra: str, message: str) -> None:
    with pytest.raises(RoutingConfigError) as caught:
        parse(MINIMAL + "\n" + extra)
    assert message in str(caught.value)
