"""Dashboard sign-ins from the CLI: passwords only on standard input, operators, set-login."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import create_engine, select
from typer.testing import CliRunner

from textgate.cli import app
from textgate.service.operators import verify_operator
from textgate.service.users import verify_password
from textgate.store.schema import accounts

runner = CliRunner()


@pytest.fixture
def env(db_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("TEXTGATE_DATABASE_URL", db_url)
    return db_url


def test_set_login_reads_the_password_from_stdin_and_signs_in(env: str) -> None:
    assert runner.invoke(app, ["accounts", "create", "acme", "--json"]).exit_code == 0
    r = runner.invoke(
        app,
        ["accounts", "set-login", "acme", "--username", "acme-admin", "--password-stdin"],
        input="s3cret pass\n",
    )
    assert r.exit_code == 0, r.output
    engine = create_engine(env)
    with engine.begin() as conn:
        assert verify_password(conn, "acme-admin", "s3cret pass").name == "acme"
        stored = conn.execute(select(accounts.c.password_hash)).scalar_one()
    assert stored.startswith("$argon2id$") and "s3cret" not in stored
    engine.dispose()
    # Never on the command line; too short is refused, naming the rule.
    r = runner.invoke(app, ["accounts", "set-login", "acme", "--username", "acme-admin"])
    assert r.exit_code == 1 and "--password-stdin" in r.output
    r = runner.invoke(
        app, ["accounts", "set-login", "acme", "--username", "x", "--password-stdin"], input="long enough\n"
    )
    assert r.exit_code == 1 and "username" in r.output
    r = runner.invoke(
        app, ["accounts", "set-login", "acme", "--username", "acme2", "--password-stdin"], input="short\n"
    )
    assert r.exit_code == 1 and "8 to" in r.output


def test_operators_create_list_and_change_password(env: str) -> None:
    r = runner.invoke(
        app, ["operators", "create", "alice", "--password-stdin", "--json"], input="first password\n"
    )
    assert r.exit_code == 0, r.output
    operator_id = json.loads(r.stdout)["id"]
    again = runner.invoke(app, ["operators", "create", "alice", "--password-stdin"], input="first password\n")
    assert again.exit_code == 1 and "exists" in again.output
    listed = json.loads(runner.invoke(app, ["operators", "list", "--json"]).stdout)
    assert [o["username"] for o in listed] == ["alice"]
    r = runner.invoke(app, ["operators", "password", "alice", "--password-stdin"], input="second password\n")
    assert r.exit_code == 0, r.output
    engine = create_engine(env)
    with engine.begin() as conn:
        assert verify_operator(conn, "alice", "second password") == operator_id
    engine.dispose()


def test_accounts_create_with_a_login_is_one_transaction(env: str) -> None:
    r = runner.invoke(
        app,
        ["accounts", "create", "acme", "--username", "acme-admin", "--password-stdin", "--json"],
        input="s3cret pass\n",
    )
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["username"] == "acme-admin"
    engine = create_engine(env)
    with engine.begin() as conn:
        assert verify_password(conn, "acme-admin", "s3cret pass").name == "acme"
    # A refused password creates no account either (nothing half-written).
    r = runner.invoke(
        app, ["accounts", "create", "beta", "--username", "beta-admin", "--password-stdin"], input="short\n"
    )
    assert r.exit_code == 1 and "8 to" in r.output
    # Each option needs the other.
    r = runner.invoke(app, ["accounts", "create", "gamma", "--username", "gamma-admin"])
    assert r.exit_code == 1 and "go together" in r.output
    with engine.begin() as conn:
        assert set(conn.execute(select(accounts.c.name)).scalars()) == {"acme"}
    engine.dispose()
