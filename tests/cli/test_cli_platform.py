"""The platform's commands (contacts, reports, users, credits, blocklist, bulk) against a real database."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine
from typer.testing import CliRunner

from textgate.cli import app
from textgate.service.accounts import authenticate_secret, balance, find_account
from textgate.service.bulk import BulkSendRequest, accept_bulk_send
from textgate.service.lists import ListEntryInput, add_list_entries, create_list
from textgate.service.send import SendRequest

runner = CliRunner()


@pytest.fixture
def env(db_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("TEXTGATE_DATABASE_URL", db_url)
    return db_url


def invoke(*args: str, code: int = 0) -> tuple[str, str]:
    result = runner.invoke(app, list(args))
    assert result.exit_code == code, result.output
    return result.stdout, result.stderr


def _account(credits: int = 0) -> str:
    out, _ = invoke("accounts", "create", "acme", "--credits", str(credits), "--json")
    return str(json.loads(out)["account_id"])


def test_contacts_import_with_progress_and_a_problem_table(env: str, tmp_path: Path) -> None:
    _account()
    lines = [f"Person {i},+1555{i:07d},,customers" for i in range(6000)]
    lines[10] = "Broken,banana"
    lines[20] = "Half,+15559999999,not-an-email,customers"
    lines[30] = "Person 0,+15558888888"
    path = tmp_path / "contacts.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out, err = invoke("contacts", "import", "acme", str(path))
    assert "6000 lines: Success 5997, Failed 1, Partial 1, Duplicate Name 1; 5998 added, 0 updated" in out
    assert "banana" in out and "Partial" in out and "Duplicate Name" in out
    assert "6000/6000" in err  # the progress bar's final state, on stderr
    groups, _ = invoke("groups", "list", "acme", "--json")
    assert [(g["name"], g["members"]) for g in json.loads(groups)] == [("customers", 5998)]
    members, _ = invoke("contacts", "list", "acme", "--group", "customers", "--json")
    assert len(json.loads(members)) == 5998
    # Again with --ignore-dupes: everything valid is added a second time; still exit 0.
    out, _ = invoke("contacts", "import", "acme", str(path), "--ignore-dupes")
    assert "5999 added" in out
    table, _ = invoke("contacts", "list", "acme")
    assert "Person 1 " in table


def test_contacts_import_of_an_unreadable_file_fails_clearly(env: str, tmp_path: Path) -> None:
    _account()
    result = runner.invoke(app, ["contacts", "import", "acme", str(tmp_path / "missing.csv")])
    assert result.exit_code == 1 and "cannot read" in result.stderr
    latin = tmp_path / "latin.csv"
    latin.write_bytes("Zoë,+15550000001\n".encode("latin-1"))
    result = runner.invoke(app, ["contacts", "import", "acme", str(latin)])
    assert result.exit_code == 1 and "not UTF-8" in result.stderr
    result = runner.invoke(app, ["contacts", "import", "nobody", str(latin)])
    assert result.exit_code == 1


def test_reports_to_stdout_and_to_a_file(env: str, tmp_path: Path) -> None:
    _account()
    invoke("numbers", "add", "acme", "+15551230001")
    for text in ("one", "=cmd()"):
        invoke("simulate", "inbound", "--from", "+61421000001", "--to", "+15551230001", text)
    target = tmp_path / "inbound.csv"
    _, err = invoke("reports", "inbound", "acme", "--output", str(target))
    assert "wrote 2 rows" in err
    rows = list(csv.reader(io.StringIO(target.read_text(encoding="utf-8"))))
    assert rows[0] == ["message_id", "received", "from", "to", "body", "parts"]
    assert sorted(r[4] for r in rows[1:]) == ["'=cmd()", "one"]
    out, _ = invoke("reports", "usage", "acme")
    assert out.splitlines()[1].split(",")[1:] == ["acme", "0", "0", "0", "2"]
    out, _ = invoke("reports", "inbound", "acme", "--from", "2020-01-01", "--to", "2020-01-31")
    assert len(out.splitlines()) == 1
    result = runner.invoke(app, ["reports", "everything", "acme"])
    assert result.exit_code == 1 and "not one of" in result.stderr
    result = runner.invoke(app, ["reports", "usage", "acme", "--from", "someday"])
    assert result.exit_code == 1 and "not a date" in result.stderr


def test_users_and_credit_transfers(env: str) -> None:
    parent_id = _account(credits=100)
    out, _ = invoke(
        "users", "create", "acme", "dept01", "--password", "correct horse", "--first-name", "Ada",
        "--last-name", "Lovelace", "--email", "ada@example.com", "--credits", "30", "--json",
    )  # fmt: skip
    made = json.loads(out)
    engine = create_engine(env)
    with engine.connect() as conn:
        child = authenticate_secret(conn, made["secret"])
        assert (child.id, child.parent_id, child.access_level) == (made["user_id"], parent_id, "normal")
    out, _ = invoke(
        "users", "create", "acme", "boss", "--password", "correct horse", "--first-name", "Bo",
        "--last-name", "Ss", "--email", "bo@example.com", "--admin",
    )  # fmt: skip
    assert "secret  tgs_" in out and "admin" in out
    out, _ = invoke("users", "list", "acme")
    assert "dept01" in out and "boss" in out
    assert "parent balance 50, user balance 50" in invoke("credits", "transfer", "acme", "dept01", "20")[0]
    assert "parent balance 60, user balance 40" in invoke("credits", "transfer", "acme", "dept01", "-10")[0]
    with engine.connect() as conn:
        assert balance(conn, made["user_id"]) == 40
    engine.dispose()
    result = runner.invoke(app, ["credits", "transfer", "acme", "dept01", "1000"])
    assert result.exit_code == 1 and "balance is 60" in result.stderr
    result = runner.invoke(app, ["credits", "transfer", "acme", "stranger", "1"])
    assert result.exit_code == 1 and "not found" in result.stderr
    result = runner.invoke(
        app,
        ["users", "create", "acme", "dept01", "--password", "correct horse", "--first-name", "A",
         "--last-name", "B", "--email", "a@example.com"],
    )  # fmt: skip
    assert result.exit_code == 1 and "already taken" in result.stderr


def test_blocklist_commands(env: str) -> None:
    _account()
    assert "+15550000001 blocked" in invoke("blocklist", "add", "acme", "555-000-0001", "--note", "asked")[0]
    listed = json.loads(invoke("blocklist", "list", "acme", "--json")[0])
    assert [(b["number"], b["note"]) for b in listed] == [("+15550000001", "asked")]
    assert "+15550000001 unblocked" in invoke("blocklist", "remove", "acme", "+15550000001")[0]
    result = runner.invoke(app, ["blocklist", "remove", "acme", "+15550000001"])
    assert result.exit_code == 1 and "not on this account's blocklist" in result.stderr
    result = runner.invoke(app, ["blocklist", "add", "acme", "banana"])
    assert result.exit_code == 1


def test_lists_and_bulk_show(env: str) -> None:
    _account(credits=10)
    engine = create_engine(env)
    now = datetime.now(UTC)
    with engine.begin() as conn:
        acme = find_account(conn, "acme")
        promo = create_list(conn, acme, "promo", ["first"], now=now)
        add_list_entries(conn, acme, promo.id, [ListEntryInput("+15550000001", fields=["Ada"])], now=now)
        req = BulkSendRequest("list", "promo", SendRequest(sender="ACME", to=[], body="hi"))
        bulk = accept_bulk_send(conn, acme, req, now=now)
    engine.dispose()
    out, _ = invoke("lists", "list", "acme")
    assert "promo" in out and "first" in out
    view = json.loads(invoke("bulk", "show", "acme", bulk.id, "--json")[0])
    assert (view["status"], view["recipients"], view["messages_by_status"]) == ("finished", 1, {"queued": 1})
    out, _ = invoke("bulk", "show", "acme", bulk.id)
    assert "queued 1" in out and "list promo" in out
    result = runner.invoke(app, ["bulk", "show", "acme", "bul_missing"])
    assert result.exit_code == 1 and "not found" in result.stderr
