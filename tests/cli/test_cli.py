"""The administrative CLI against a real database (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select
from typer.testing import CliRunner

from textgate.cli import app
from textgate.service.accounts import authenticate_key, balance, ledger_total
from textgate.store.schema import accounts, messages, numbers

runner = CliRunner()


@pytest.fixture
def env(db_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("TEXTGATE_DATABASE_URL", db_url)
    return db_url


def invoke(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.stdout


def test_accounts_create_json_prints_exactly_one_object(env: str) -> None:
    out = invoke("accounts", "create", "acme", "--credits", "250", "--region", "AU", "--json")
    obj = json.loads(out)
    assert set(obj) == {"account_id", "key_id", "secret"}
    assert out.count("\n") == 1
    engine = create_engine(env)
    with engine.connect() as conn:
        assert authenticate_key(conn, obj["key_id"], obj["secret"]).region == "AU"
        assert balance(conn, obj["account_id"]) == ledger_total(conn, obj["account_id"]) == 250
    engine.dispose()


def test_numbers_credits_keys_and_settings(env: str) -> None:
    account = json.loads(invoke("accounts", "create", "acme", "--region", "AU", "--json"))["account_id"]
    assert "+61421000001" in invoke("numbers", "add", "acme", "0421000001")
    invoke("numbers", "add", account, "+61421000002", "--inactive")
    assert "balance 40" in invoke("credits", "add", "acme", "40")
    assert "balance 30" in invoke("credits", "add", "acme", "-10", "--note", "correction")
    key = json.loads(invoke("keys", "create", "acme", "--name", "api@department01.co", "--json"))
    assert key["name"] == "api@department01.co" and key["secret"].startswith("tgs_")
    out = invoke(
        "accounts", "set", "acme", "--price-sms-part", "2", "--price-mms", "5", "--owned-senders-only"
    )
    assert "2 credit(s) per SMS part" in out and "senders own numbers," in out
    assert "senders any unregistered number," in invoke("accounts", "set", "acme", "--unregistered-numbers")
    out = invoke("accounts", "set", "acme", "--registered-numbers-only", "--any-sender")
    assert "senders own numbers and sender IDs," in out
    invoke("accounts", "set", "acme", "--owned-senders-only")
    invoke("keys", "revoke", key["key_id"])
    engine = create_engine(env)
    with engine.connect() as conn:
        row = conn.execute(select(accounts)).one()
        assert (row.price_sms_part, row.price_mms, row.owned_senders_only, row.balance) == (2, 5, True, 30)
        assert dict(conn.execute(select(numbers.c.number, numbers.c.status)).all()) == {
            "+61421000001": "active",
            "+61421000002": "inactive",
        }
    engine.dispose()
    assert "acme" in invoke("accounts", "list")


def test_simulate_inbound_stores_a_received_message(env: str) -> None:
    invoke("accounts", "create", "acme", "--json")
    invoke("numbers", "add", "acme", "+15551230001")
    out = invoke("simulate", "inbound", "--from", "+61421000001", "--to", "+15551230001", "hello", "--json")
    view = json.loads(out)
    assert (view["direction"], view["status"], view["body"]) == ("inbound", "received", "hello")
    engine = create_engine(env)
    with engine.connect() as conn:
        assert conn.execute(select(messages.c.from_addr)).scalar_one() == "+61421000001"
    engine.dispose()


def test_simulate_inbound_with_media_is_an_mms_whose_file_downloads(env: str, tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from textgate.config import Settings
    from textgate.web.app import create_app

    secret = json.loads(invoke("accounts", "create", "acme", "--json"))["secret"]
    invoke("numbers", "add", "acme", "+15551230001")
    photo = tmp_path / "photo.jpg"
    photo.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg \x00\x01")
    note = tmp_path / "note.txt"
    note.write_text("hello")
    out = invoke(
        "simulate", "inbound", "--from", "+61421000001", "--to", "+15551230001",
        "--media", str(photo), "--media", str(note), "look", "--json",
    )  # fmt: skip
    view = json.loads(out)
    assert view["type"] == "mms"
    assert [(m["filename"], m["content_type"], m["size"]) for m in view["media"]] == [
        ("photo.jpg", "image/jpeg", len(photo.read_bytes())),
        ("note.txt", "text/plain", 5),
    ]
    client = TestClient(create_app(Settings(database_url=env), workers=False))
    got = client.get(f"/v1/media/{view['media'][0]['id']}", headers={"Authorization": f"Bearer {secret}"})
    assert got.status_code == 200
    assert got.content == photo.read_bytes()
    assert got.headers["content-type"] == "image/jpeg"
    assert got.headers["content-disposition"].startswith('attachment; filename="photo.jpg"')
    listed = client.get("/v1/messages?direction=inbound", headers={"Authorization": f"Bearer {secret}"})
    assert listed.json()["data"][0]["media"] == view["media"]


def test_simulate_inbound_media_that_cannot_be_read_is_a_clear_error(env: str, tmp_path: Path) -> None:
    invoke("accounts", "create", "acme", "--json")
    invoke("numbers", "add", "acme", "+15551230001")
    args = ["simulate", "inbound", "--from", "+61421000001", "--to", "+15551230001", "x", "--media"]
    result = runner.invoke(app, [*args, str(tmp_path / "missing.jpg")])
    assert result.exit_code == 1 and "missing.jpg" in result.output
    (tmp_path / "empty.png").write_bytes(b"")
    result = runner.invoke(app, [*args, str(tmp_path / "empty.png")])
    assert result.exit_code == 1 and "empty" in result.output
    engine = create_engine(env)
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(messages)).scalar_one() == 0
    engine.dispose()


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("numbers", "add", "nobody", "+15551230001"), "account 'nobody' not found"),
        (("credits", "add", "acme", "-1"), "below zero"),
        (("numbers", "add", "acme", "banana"), "not a valid phone number"),
        (
            ("simulate", "inbound", "--from", "+61421000001", "--to", "+15559999999", "x"),
            "not a number of any",
        ),
        (("accounts", "set", "acme", "--status", "sleeping"), "active or suspended"),
        (("keys", "revoke", "key_missing"), "not found"),
    ],
)
def test_errors_are_one_line_and_nonzero(env: str, args: tuple[str, ...], needle: str) -> None:
    invoke("accounts", "create", "acme", "--json")
    result = runner.invoke(app, list(args))
    assert result.exit_code == 1
    assert needle in result.stderr
    assert result.stderr.strip().count("\n") == 0
    assert "Traceback" not in result.output


def test_send_without_api_key_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TEXTGATE_API_KEY", raising=False)
    result = runner.invoke(app, ["send", "--from", "+15551230001", "--to", "+15550000001", "hi"])
    assert result.exit_code == 1 and "TEXTGATE_API_KEY" in result.stderr


def test_send_to_unreachable_gateway_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEXTGATE_API_KEY", "tgs_x")
    monkeypatch.setenv("TEXTGATE_URL", "http://127.0.0.1:9")
    result = runner.invoke(app, ["send", "--from", "+15551230001", "--to", "+15550000001", "hi"])
    assert result.exit_code == 1 and "cannot reach the gateway" in result.stderr


@pytest.mark.parametrize(
    "command",
    [
        ["serve"],
        ["accounts", "create"],
        ["accounts", "set"],
        ["numbers", "add"],
        ["credits", "add"],
        ["keys", "create"],
        ["keys", "revoke"],
        ["send"],
        ["messages", "list"],
        ["messages", "show"],
        ["messages", "cancel"],
        ["credits", "history"],
        ["simulate", "inbound"],
        ["db", "upgrade"],
        ["webhooks", "add"],
    ],
)
def test_every_command_has_help_with_an_example(command: list[str]) -> None:
    result = runner.invoke(app, [*command, "--help"])
    assert result.exit_code == 0
    assert "Example" in result.stdout


def test_db_upgrade(env: str) -> None:
    from textgate.store.migrate import head_revision

    assert f"database at revision {head_revision()}" in invoke("db", "upgrade")


def test_account_settings(env: str) -> None:
    invoke("accounts", "create", "acme", "--json")
    invoke("accounts", "set", "acme", "--setting", "require_mobile=true", "--setting", "help_text=Call us")
    invoke("accounts", "set", "acme", "--setting", 'allowed_prefixes=["+61", "+64"]')
    engine = create_engine(env)
    with engine.connect() as conn:
        settings = conn.execute(select(accounts.c.settings)).scalar_one()
    assert settings == {"require_mobile": True, "help_text": "Call us", "allowed_prefixes": ["+61", "+64"]}
    invoke("accounts", "set", "acme", "--setting", "help_text=null")
    with engine.connect() as conn:
        assert "help_text" not in conn.execute(select(accounts.c.settings)).scalar_one()
    engine.dispose()


def test_webhooks_add_with_format_and_number(env: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEXTGATE_ALLOW_PRIVATE_URLS", "true")
    invoke("accounts", "create", "acme", "--json")
    invoke("numbers", "add", "acme", "+15551230001")
    out = invoke(
        "webhooks", "add", "acme", "http://127.0.0.1:9/in", "--event", "message.received",
        "--number", "15551230001", "--json",
    )  # fmt: skip
    ep = json.loads(out)
    assert (ep["format"], ep["number"], ep["events"]) == ("standard", "+15551230001", ["message.received"])
    assert ep["secret"].startswith("whsec_")
    result = runner.invoke(app, ["webhooks", "add", "acme", "http://127.0.0.1:9/x", "--format", "nope"])
    assert result.exit_code == 1 and "unknown format 'nope'" in result.stderr
    result = runner.invoke(
        app, ["webhooks", "add", "acme", "http://127.0.0.1:9/x", "--number", "+15551239999"]
    )
    assert result.exit_code == 1 and "not a number of this account" in result.stderr


def test_webhooks_add_with_statuses(env: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEXTGATE_ALLOW_PRIVATE_URLS", "true")
    invoke("accounts", "create", "acme", "--json")
    out = invoke(
        "webhooks", "add", "acme", "http://127.0.0.1:9/dlr", "--status", "failed", "--status", "delivered",
        "--json",
    )  # fmt: skip
    assert json.loads(out)["statuses"] == ["delivered", "failed"]
    result = runner.invoke(app, ["webhooks", "add", "acme", "http://127.0.0.1:9/x", "--status", "sending"])
    assert result.exit_code == 1 and "unknown status(es) 'sending'" in result.stderr


def test_an_account_name_is_taken_once_whatever_its_case(env: str) -> None:
    first = json.loads(invoke("accounts", "create", "acme", "--json"))["account_id"]
    for again in ("acme", "ACME", " Acme "):
        result = runner.invoke(app, ["accounts", "create", again, "--json"])
        assert result.exit_code == 1, result.output
        assert "already exists" in result.output
    # So the name still names exactly one account, also written in another case.
    assert "+15551230001" in invoke("numbers", "add", "ACME", "+15551230001")
    assert invoke("accounts", "list").count(first) == 1


def test_the_default_database_is_found_from_any_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TEXTGATE_DATABASE_URL", raising=False)
    monkeypatch.setenv("TEXTGATE_HOME", str(tmp_path / "data"))
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    monkeypatch.chdir(tmp_path / "one")
    account = json.loads(invoke("accounts", "create", "acme", "--json"))["account_id"]
    monkeypatch.chdir(tmp_path / "two")
    assert account in invoke("accounts", "list")
    assert invoke("db", "path").strip() == str(tmp_path / "data" / "textgate.db")


def test_webhooks_add_list_and_remove(env: str) -> None:
    invoke("accounts", "create", "acme", "--json")
    made = json.loads(
        invoke(
            "webhooks", "add", "acme", "https://93.184.216.34/hooks", "--format", "textbetter_v2", "--json"
        )
    )
    assert made["events"] == ["message.received"]  # what the format carries
    listed = json.loads(invoke("webhooks", "list", "acme", "--json"))
    assert [e["id"] for e in listed] == [made["id"]] and "secret" not in listed[0]
    assert made["id"] in invoke("webhooks", "list", "acme")
    assert "removed" in invoke("webhooks", "remove", "acme", made["id"])
    assert json.loads(invoke("webhooks", "list", "acme", "--json")) == []
    result = runner.invoke(app, ["webhooks", "remove", "acme", made["id"]])
    assert result.exit_code == 1
