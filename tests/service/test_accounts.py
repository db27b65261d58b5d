from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, select

from tests.helpers import make_tenant
from textgate.domain.errors import (
    AuthenticationError,
    Conflict,
    InsufficientCredits,
    NotFound,
    ValidationError,
)
from textgate.service.accounts import (
    add_credits,
    add_number,
    authenticate_key,
    authenticate_secret,
    balance,
    create_account,
    create_key,
    find_account,
    ledger_total,
    revoke_key,
)
from textgate.service.send import SendRequest, send_messages
from textgate.store.schema import api_keys, ledger_entries

NOW = datetime(2026, 3, 15, tzinfo=UTC)


def test_secret_is_shown_once_and_stored_hashed(engine: Engine) -> None:
    with engine.begin() as conn:
        account, key = create_account(conn, "acme", now=NOW, credits=5)
        stored = conn.execute(select(api_keys)).one()
    assert key.secret.startswith("tgs_") and len(key.secret) > 30
    assert key.secret not in (stored.secret_hash, stored.id)
    assert len(stored.secret_hash) == 64
    with engine.connect() as conn:
        assert authenticate_secret(conn, key.secret).id == account.id
        assert authenticate_key(conn, key.key_id, key.secret).id == account.id
        with pytest.raises(AuthenticationError):
            authenticate_secret(conn, key.secret + "x")
        with pytest.raises(AuthenticationError):
            authenticate_key(conn, key.key_id, "tgs_wrong")
        with pytest.raises(AuthenticationError):
            authenticate_key(conn, "key_unknown", key.secret)


def test_named_keys_and_revocation(engine: Engine) -> None:
    with engine.begin() as conn:
        account, first = create_account(conn, "acme", now=NOW)
        named = create_key(conn, account.id, now=NOW, name="api@department01.co")
        with pytest.raises(Conflict):
            create_key(conn, account.id, now=NOW, name="api@department01.co")
    with engine.connect() as conn:
        assert authenticate_key(conn, "api@department01.co", named.secret, by_name=True).id == account.id
    with engine.begin() as conn:
        revoke_key(conn, first.key_id, now=NOW)
        with pytest.raises(NotFound):
            revoke_key(conn, first.key_id, now=NOW)
    with engine.connect() as conn, pytest.raises(AuthenticationError):
        authenticate_secret(conn, first.secret)


def test_account_lookup_and_validation(engine: Engine) -> None:
    with engine.begin() as conn:
        account, _ = create_account(conn, "acme", now=NOW, region="au")
        assert account.region == "AU"
        assert find_account(conn, "acme").id == account.id
        assert find_account(conn, account.id).name == "acme"
        with pytest.raises(NotFound):
            find_account(conn, "nobody")
        with pytest.raises(ValidationError) as info:
            create_account(conn, "x", now=NOW, region="ZZ")
        assert info.value.field == "region"
        add_number(conn, account, "0421000001", now=NOW)
        with pytest.raises(Conflict):
            add_number(conn, account, "+61421000001", now=NOW)


def test_credits_never_below_zero(engine: Engine) -> None:
    with engine.begin() as conn:
        account, _ = create_account(conn, "acme", now=NOW, credits=5)
        assert add_credits(conn, account.id, -5, now=NOW) == 0
        with pytest.raises(ValidationError, match="below zero"):
            add_credits(conn, account.id, -1, now=NOW)
        assert balance(conn, account.id) == ledger_total(conn, account.id) == 0


def test_concurrent_sends_never_overdraw(engine: Engine) -> None:
    """Many threads race to spend a small balance: exactly `credits` sends win, the ledger agrees."""
    credits, threads, per_thread = 25, 8, 6
    tenant = make_tenant(engine, credits=credits, now=NOW)
    accepted: list[int] = []
    refused: list[int] = []
    lock = threading.Lock()
    barrier = threading.Barrier(threads)

    def worker(n: int) -> None:
        barrier.wait()
        for i in range(per_thread):
            req = SendRequest(sender=tenant.number, to=[f"+1555{n:03d}{i:04d}"], body="race")
            try:
                with engine.begin() as conn:
                    send_messages(conn, tenant.account, req, now=datetime.now(UTC))
                with lock:
                    accepted.append(1)
            except InsufficientCredits:
                with lock:
                    refused.append(1)

    pool = [threading.Thread(target=worker, args=(n,)) for n in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    assert len(accepted) == credits
    assert len(refused) == threads * per_thread - credits
    with engine.connect() as conn:
        assert balance(conn, tenant.account.id) == 0
        assert ledger_total(conn, tenant.account.id) == 0
        afters = conn.execute(
            select(ledger_entries.c.balance_after).where(ledger_entries.c.account_id == tenant.account.id)
        ).scalars()
        assert min(afters) >= 0
