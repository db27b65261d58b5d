from __future__ import annotations

from pathlib import Path

import pytest

from textgate.bootstrap import build_connector
from textgate.config import Settings, data_dir, default_database_url
from textgate.providers.simulator.connector import SimulatorConnector
from textgate.store.db import make_engine


def test_defaults_are_the_embedded_gateway(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in (
        "TEXTGATE_CONFIG",
        "TEXTGATE_DATABASE_URL",
        "TEXTGATE_PORT",
        "TEXTGATE_HOST",
        "TEXTGATE_HOME",
    ):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    s = Settings()
    expected = Path.home() / ".local" / "share" / "textgate" / "textgate.db"
    assert s.database_url == default_database_url() == f"sqlite:///{expected.resolve()}"
    assert (s.host, s.port, s.max_request_bytes) == ("127.0.0.1", 8080, 20 * 1024 * 1024)


def test_the_default_database_does_not_depend_on_the_current_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TEXTGATE_DATABASE_URL", raising=False)
    monkeypatch.setenv("TEXTGATE_HOME", str(tmp_path / "home"))
    urls = set()
    for where in (tmp_path, tmp_path / "elsewhere"):
        where.mkdir(exist_ok=True)
        monkeypatch.chdir(where)
        urls.add(Settings().database_url)
    assert urls == {f"sqlite:///{tmp_path / 'home' / 'textgate.db'}"}
    assert data_dir() == tmp_path / "home"


def test_toml_file_and_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "textgate.toml"
    cfg.write_text(
        """
port = 9000
database_url = "sqlite:///from-file.db"

[simulator]
report_latency = 1.5

[simulator.numbers."+61421000009"]
behaviour = "reply"
reply = "G'day"
"""
    )
    monkeypatch.setenv("TEXTGATE_CONFIG", str(cfg))
    monkeypatch.setenv("TEXTGATE_PORT", "9100")  # the environment wins over the file
    s = Settings()
    assert s.port == 9100
    assert s.database_url == "sqlite:///from-file.db"
    engine = make_engine(f"sqlite:///{tmp_path}/x.db")
    sim = build_connector(s, engine, lambda: None)  # type: ignore[arg-type, return-value]
    assert isinstance(sim, SimulatorConnector)
    assert sim.report_latency == 1.5
    assert sim.behaviour("+61421000009").kind == "reply"
    assert sim.behaviour("+61421000009").reply == "G'day"
    assert sim.behaviour("+15550000002").kind == "invalid_destination"  # built-in test numbers stay


def test_unknown_simulator_behaviour_is_refused(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}/x.db")
    with pytest.raises(ValueError, match="must be one of"):
        SimulatorConnector(engine, numbers={"+15550001234": {"behaviour": "explode"}})
