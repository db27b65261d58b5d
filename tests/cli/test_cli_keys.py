"""``textgate keys create --bestsms-answers`` and ``textgate keys set``: per-key answer options."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import create_engine, select
from typer.testing import CliRunner

from textgate.cli import app
from textgate.store.schema import api_keys

runner = CliRunner()


@pytest.fixture
def env(db_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("TEXTGATE_DATABASE_URL", db_url)
    return db_url


def invoke(*args: str, code: int = 0) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == code, result.output
    return result.output


def stored_options(url: str, key_id: str) -> object:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(select(api_keys.c.options).where(api_keys.c.id == key_id)).scalar_one()
    finally:
        engine.dispose()


def test_keys_create_with_plain_bestsms_answers_and_set(env: str) -> None:
    invoke("accounts", "create", "acme", "--json")
    key = json.loads(
        invoke("keys", "create", "acme", "--name", "api@acme.example", "--bestsms-answers", "plain", "--json")
    )
    assert key["options"] == {"bestsms_answers": "plain"}
    assert stored_options(env, key["key_id"]) == {"bestsms_answers": "plain"}
    assert "options bestsms_answers=plain" in invoke("keys", "create", "acme", "--bestsms-answers", "plain")

    plain_default = json.loads(invoke("keys", "create", "acme", "--json"))
    assert plain_default["options"] == {} and stored_options(env, plain_default["key_id"]) is None

    assert f"{key['key_id']}: defaults" in invoke("keys", "set", key["key_id"], "--bestsms-answers", "json")
    assert stored_options(env, key["key_id"]) is None
    assert "bestsms_answers=plain" in invoke("keys", "set", key["key_id"], "--bestsms-answers", "plain")

    assert "bestsms_answers must be one of json, plain" in invoke(
        "keys", "create", "acme", "--bestsms-answers", "xml", code=1
    )
    assert "nothing to change" in invoke("keys", "set", key["key_id"], code=1)
    assert "not found" in invoke("keys", "set", "key_nope", "--bestsms-answers", "plain", code=1)


def test_keys_help_documents_the_option(env: str) -> None:
    out = invoke("keys", "create", "--help")
    assert "--bestsms-answers" in out and "OK Thanks" in out
