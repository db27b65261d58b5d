"""Wiring: what ``serve`` builds from settings, the SMPP and simulator factories, configuration errors at
start, and the /callbacks/{name} and /healthz routes of the web app."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from tests.routing.fakes import FakeConnector
from textgate.bootstrap import build_gateway_connector, check_configuration
from textgate.config import Settings
from textgate.domain.clock import utcnow
from textgate.providers.base import CallbackRequest, CallbackResponse, Connector
from textgate.providers.simulator.connector import SimulatorConnector
from textgate.providers.smpp.connector import SmppConnector
from textgate.routing import registry
from textgate.routing.config import RoutingConfigError
from textgate.routing.router import Router
from textgate.web.app import create_app

SMPP = {
    "name": "smsc1",
    "type": "smpp",
    "host": "127.0.0.1",
    "port": 2775,
    "system_id": "tg",
    "password": "pw",
}


def build(engine: Engine, **settings: Any) -> Connector:
    return build_gateway_connector(Settings(**settings), engine, utcnow, httpx.AsyncClient())


def test_no_configuration_is_the_bare_simulator(engine: Engine) -> None:
    connector = build(engine)
    assert isinstance(connector, SimulatorConnector) and connector.name == "simulator"


def test_configured_connectors_are_built_by_their_factories_behind_a_router(engine: Engine) -> None:
    connector = build(
        engine,
        connectors=[SMPP, {"name": "sim", "type": "simulator", "report_latency": 0.5}],
        routes=[{"name": "default", "connectors": ["smsc1", "sim"]}],
    )
    assert isinstance(connector, Router)
    smpp, sim = connector.members["smsc1"].connector, connector.members["sim"].connector
    assert isinstance(smpp, SmppConnector) and smpp.config.port == 2775 and smpp.config.system_id == "tg"
    assert isinstance(sim, SimulatorConnector) and sim.report_latency == 0.5


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({**SMPP, "hots": "x"}, '[[connectors]] "smsc1" (type smpp): unknown key hots'),
        (
            {k: v for k, v in SMPP.items() if k != "password"},
            '[[connectors]] "smsc1" (type smpp): missing key password',
        ),
        ({**SMPP, "port": "2775"}, "port must be int"),
        ({**SMPP, "bind_mode": "both"}, "bind_mode must be 'transceiver' or 'tx_rx'"),
        (
            {"name": "s", "type": "simulator", "numbers": {"+1": {"behaviour": "explode"}}},
            "simulator behaviour",
        ),
    ],
)
def test_a_factory_refusal_names_the_table(engine: Engine, table: dict[str, Any], message: str) -> None:
    with pytest.raises(RoutingConfigError) as caught:
        check_configuration(Settings(connectors=[table]), engine)
    assert message in str(caught.value)


class Echo(FakeConnector):
    async def callback(self, request: CallbackRequest) -> CallbackResponse:
        return CallbackResponse(
            202, f"{request.method} {request.query} {request.body.decode()}", "text/x-echo"
        )


def test_callbacks_reach_the_named_member_and_healthz_lists_every_connector(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    types = {**registry.connector_types(), "echo": lambda table, ctx: Echo(table["name"])}
    monkeypatch.setattr(registry, "connector_types", lambda: types)
    settings = Settings(
        connectors=[{"name": "up1", "type": "echo"}, {"name": "sim", "type": "simulator"}],
        routes=[{"name": "default", "connectors": ["up1", "sim"]}],
    )
    with TestClient(create_app(settings, engine=engine)) as client:
        answer = client.post("/callbacks/up1?status=DELIVRD", content=b"id=42")
        assert answer.status_code == 202
        assert answer.text == "POST {'status': 'DELIVRD'} id=42"
        assert answer.headers["content-type"].startswith("text/x-echo")
        assert client.get("/callbacks/up1").text.startswith("GET")
        assert client.post("/callbacks/sim").status_code == 404  # the simulator takes no callbacks
        missing = client.post("/callbacks/nope")
        assert missing.status_code == 404 and "no connector named 'nope'" in missing.text
        health = client.get("/healthz").json()
        assert health["connectors"] == {"up1": "up", "sim": "up"}
        routing = health["routing"]
        assert routing["routes"][0]["connectors"] == ["up1", "sim"]
        assert [(c["name"], c["type"], c["breaker"]["state"]) for c in routing["connectors"]] == [
            ("up1", "echo", "closed"),
            ("sim", "simulator", "closed"),
        ]


def test_the_toml_file_configures_routes_and_rate_limits(
    engine: Engine, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "textgate.toml"
    config.write_text(
        """
        [[connectors]]
        name = "sim"
        type = "simulator"
        [[routes]]
        name = "slow"
        connectors = ["sim"]
        rate = 5
        [rate_limits]
        per_account = 3
        [rate_limits.accounts]
        acc_big = 30
        """
    )
    monkeypatch.setenv("TEXTGATE_CONFIG", str(config))
    router = build(engine)
    assert isinstance(router, Router)
    assert router.routes[0].bucket is not None and router.routes[0].bucket.rate == 5
    assert router.rate_limits.for_account("acc_x") == 3 and router.rate_limits.for_account("acc_big") == 30
    assert router.buckets is not None
