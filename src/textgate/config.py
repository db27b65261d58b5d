"""Settings: one system, ``TEXTGATE_`` environment variables over an optional TOML file.

The TOML file is named by ``TEXTGATE_CONFIG``; its top-level keys are the same names as the fields below
(lower case, without the prefix). Environment variables win over the file.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

from pydantic import Field
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict


def data_dir() -> Path:
    """Where textgate keeps its embedded database unless told otherwise - never relative to the current
    directory, so every command finds the same database wherever it is run: ``$TEXTGATE_HOME``, else
    ``$XDG_DATA_HOME/textgate``, else ``~/.local/share/textgate``."""
    home = os.environ.get("TEXTGATE_HOME")
    if home:
        return Path(home).expanduser().resolve()
    xdg = os.environ.get("XDG_DATA_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".local" / "share"
    return (base / "textgate").resolve()


def default_database_url() -> str:
    """``sqlite:////absolute/path/textgate.db`` in :func:`data_dir`."""
    return f"sqlite:///{data_dir() / 'textgate.db'}"


def database_location(url: str) -> str:
    """What a user should be told the database is: the absolute file of a SQLite URL, else the URL
    without its password."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        db = parsed.database
        return ":memory:" if not db or db == ":memory:" else str(Path(db).resolve())
    return parsed.render_as_string(hide_password=True)


class _TomlSource(PydanticBaseSettingsSource):
    def __init__(self, settings_cls: type[BaseSettings]) -> None:
        super().__init__(settings_cls)
        path = os.environ.get("TEXTGATE_CONFIG")
        self._data: dict[str, Any] = {}
        if path:
            with Path(path).open("rb") as fh:
                raw = tomllib.load(fh)
            self._data = {k: v for k, v in raw.items() if k in settings_cls.model_fields}

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return self._data.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(self._data)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TEXTGATE_", extra="ignore")

    database_url: str = Field(default_factory=default_database_url)
    host: str = "127.0.0.1"
    port: int = 8080
    #: Largest request body accepted, in bytes (413 beyond).
    max_request_bytes: int = 20 * 1024 * 1024
    #: SQLite ``synchronous`` pragma. NORMAL (WAL) survives process crashes; FULL also survives power loss.
    sqlite_synchronous: str = "NORMAL"
    #: Worker tuning.
    dispatch_batch: int = 200
    #: Dispatch rounds in flight at once (claim, carrier, record), each with its own lease.
    dispatch_rounds: int = Field(default=2, ge=1, le=16)
    lease_seconds: float = 30.0
    poll_interval: float = 0.05
    #: Longest wait of an idle background loop (waits double from poll_interval up to this).
    idle_poll_max: float = 1.0
    #: Seconds a delivery receipt whose message is not known yet (it overtook the submission's answer) is
    #: kept for it.
    early_receipt_ttl: float = 3600.0
    retry_base_seconds: float = 2.0
    retry_max_seconds: float = 600.0
    max_attempts: int = 8
    webhook_timeout: float = 10.0
    #: Allow webhook and media URLs on private/loopback addresses (tests, private deployments).
    allow_private_urls: bool = False
    #: Encrypts webhook signing secrets at rest (webhooks/secrets.py); any long random string.
    secret_key: str | None = None
    #: SMTP relay for email deliveries (reports and replies some providers send by email).
    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_from: str = "textgate@localhost"
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_starttls: bool = False
    #: Run the background workers (dispatch, webhooks) inside ``serve``.
    run_workers: bool = True
    #: Webhook sender processes ``serve`` starts beside itself (``textgate webhooks worker``); with one or
    #: more, the ``serve`` process leaves webhooks to them and has its core for the API and carriers.
    webhook_processes: int = Field(default=0, ge=0, le=32)
    #: API processes ``serve`` starts to answer HTTP while it runs the workers (web/processes.py).
    api_processes: int = Field(default=0, ge=0, le=32)
    #: Deliveries a webhook sender claims per round, and how many it sends at once.
    webhook_batch: int = Field(default=200, ge=1, le=5000)
    webhook_concurrency: int = Field(default=32, ge=1, le=1000)
    #: Simulator latencies, in seconds.
    sim_submit_latency: float = 0.0
    sim_report_latency: float = 0.2
    #: Default account region for new accounts.
    default_region: str = "US"
    log_level: str = "info"
    #: ``[simulator]`` table: ``submit_latency``, ``report_latency`` and ``numbers`` (per-destination
    #: behaviours, see the README's test numbers).
    simulator: dict[str, Any] = Field(default_factory=dict)
    #: Where upstream providers reach this gateway (callback URLs are ``{public_url}/callbacks/{name}``).
    public_url: str = "http://127.0.0.1:8080"
    #: Where tracked links point (``{short_link_url}/l/{code}``) for accounts with ``link_tracking``;
    #: None: ``public_url``. Keep it short: every character is in every message (docs/links.md).
    short_link_url: str | None = None
    #: ``[[connectors]]`` and ``[[routes]]`` tables (see docs/routing.md). None: the simulator alone.
    connectors: list[dict[str, Any]] = Field(default_factory=list)
    routes: list[dict[str, Any]] = Field(default_factory=list)
    #: ``[rate_limits]`` table: messages/s per account, shared by every node (see docs/routing.md).
    rate_limits: dict[str, Any] = Field(default_factory=dict)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, _TomlSource(settings_cls))
