from __future__ import annotations

import random
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, select

from tests.helpers import make_tenant
from textgate.domain.errors import (
    AuthenticationError,
    Conflict,
    InsufficientCredits,
    NotFound,
    PermissionDenied,
    ValidationError,
)
from textgate.domain.pricing import PriceList
from textgate.service.accounts import (
    Account,
    authenticate_secret,
    balance,
    create_account,
    get_account,
    ledger_total,
    update_account,
)
from textgate.service.send import SendRequest, send_messages
from textgate.service.users import (
    check_password,
    create_user,
    descendants,
    get_user,
    list_transfers,
    list_users,
    set_user_status,
    transfer_credits,
    verify_password,
)
from textgate.store.schema import accounts, credit_transfers, ledger_entries

NOW = datetime(2026, 3, 15, 12, 0, tzinfo=UTC)
PASSWORD = "correct horse"


def _user(conn: Any, parent: Account, username: str = "alice", **kw: Any) -> Account:
    fields: dict[str, Any] = {
        "username": username,
        "password": PASSWORD,
        "access_level": "Normal",
        "first_name": "Alice",
        "last_name": "Smith",
        "email": "alice@example.com",
        "now": NOW,
    }
    fields.update(kw)
    child, _ = create_user(conn, parent, **fields)
    return child


def _parent(engine: Engine, credits: int = 100, **kw: Any) -> Account:
    return make_tenant(engine, credits=credits, now=NOW, **kw).account


def test_an_earlier_scrypt_hash_still_signs_in_and_is_replaced_by_argon2(engine: Engine) -> None:
    import base64
    import hashlib

    salt = b"0123456789abcdef"
    digest = hashlib.scrypt(b"old secret", salt=salt, n=2**14, r=8, p=1, dklen=32)
    legacy = f"scrypt$16384$8$1${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"
    assert check_password("old secret", legacy) and not check_password("other", legacy)
    with engine.begin() as conn:
        account, _key = create_account(conn, "legacy", now=datetime.now(UTC))
        conn.execute(
            accounts.update()
            .where(accounts.c.id == account.id)
            .values(username="legacy1", password_hash=legacy)
        )
    with engine.begin() as conn:
        assert verify_password(conn, "legacy1", "old secret").id == account.id
    with engine.connect() as conn:
        stored = conn.execute(
            select(accounts.c.password_hash).where(accounts.c.id == account.id)
        ).scalar_one()
    assert stored.startswith("$argon2id$") and check_password("old secret", stored)


def test_create_user_inherits_settings_and_takes_credits_from_parent(engine: Engine) -> None:
    with engine.begin() as conn:
        parent, _ = create_account(
            conn, "acme", now=NOW, credits=50, region="GB", prices=PriceList(sms_part=2, mms=5)
        )
        parent = update_account(
            conn, parent.id, owned_senders_only=True, settings={"timezone": "Europe/London", "x": 1}
        )
        child, key = create_user(
            conn,
            parent,
            username="bob.jones@dept-1_a",
            password=PASSWORD,
            access_level="ADMIN",
            first_name=" Bob ",
            last_name="Jones",
            email="bob@example.co.uk",
            telephone="07777 777771",
            credits=20,
            credit_reminder=5,
            alert_days=30,
            now=NOW,
        )
        stored = conn.execute(select(accounts).where(accounts.c.id == child.id)).one()
    assert child.parent_id == parent.id
    assert child.name == "Bob Jones"
    assert child.username == "bob.jones@dept-1_a"
    assert child.access_level == "admin" and child.is_admin
    assert (child.region, child.prices, child.owned_senders_only) == ("GB", PriceList(2, 5), True)
    assert child.settings == {"timezone": "Europe/London"}
    assert child.profile == {
        "first_name": "Bob",
        "last_name": "Jones",
        "email": "bob@example.co.uk",
        "telephone": "+447777777771",
        "credit_reminder": 5,
        "alert_days": 30,
    }
    assert stored.password_hash.startswith("$argon2id$")  # pwdlib's argon2id
    assert PASSWORD not in stored.password_hash
    assert check_password(PASSWORD, stored.password_hash)
    with engine.begin() as conn:
        assert authenticate_secret(conn, key.secret).id == child.id
        assert balance(conn, parent.id) == ledger_total(conn, parent.id) == 30
        assert balance(conn, child.id) == ledger_total(conn, child.id) == 20
        transfer = conn.execute(select(credit_transfers)).one()
        assert (transfer.from_account_id, transfer.to_account_id, transfer.amount) == (
            parent.id,
            child.id,
            20,
        )
        assert transfer.created_by == parent.id and transfer.id.startswith("ctr_")


def test_passwords_are_salted(engine: Engine) -> None:
    parent = _parent(engine)
    with engine.begin() as conn:
        a = _user(conn, parent, "alice")
        b = _user(conn, parent, "bobby")
        hashes = conn.execute(
            select(accounts.c.password_hash).where(accounts.c.id.in_([a.id, b.id]))
        ).scalars()
        assert len(set(hashes)) == 2


def test_only_admins_create_users(engine: Engine) -> None:
    parent = _parent(engine)
    with engine.begin() as conn:
        normal = _user(conn, parent, "normal1", access_level="normal")
        assert not normal.is_admin
        with pytest.raises(PermissionDenied):
            _user(conn, normal, "grandchild")
        with pytest.raises(PermissionDenied):
            transfer_credits(conn, normal, "whoever", 1, now=NOW)
        admin = _user(conn, parent, "admin1", access_level="Admin")
        grandchild = _user(conn, admin, "grandchild")
        assert grandchild.parent_id == admin.id


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("username", ""),
        ("username", "ab"),
        ("username", "a" * 101),
        ("username", "has space"),
        ("username", "semi;colon"),
        ("password", ""),
        ("password", "short12"),
        ("access_level", "root"),
        ("access_level", ""),
        ("first_name", "  "),
        ("last_name", ""),
        ("last_name", "x" * 101),
        ("email", ""),
        ("email", "not-an-email"),
        ("email", "a@b"),
        ("telephone", "mynumber"),
        ("credits", -1),
        ("credits", "5"),
        ("credits", 1.5),
        ("credit_reminder", -3),
        ("alert_days", "ten"),
    ],
)
def test_create_user_validation(engine: Engine, field: str, value: Any) -> None:
    parent = _parent(engine)
    with engine.begin() as conn:
        with pytest.raises(ValidationError) as info:
            _user(conn, parent, **{field: value})
        assert info.value.field == field
        assert list_users(conn, parent) == []


def test_username_unique_across_gateway(engine: Engine) -> None:
    one = _parent(engine, name="one", number="+15551230001")
    two = _parent(engine, name="two", number="+15551230002")
    with engine.begin() as conn:
        _user(conn, one, "Alice")
        for name in ("Alice", "alice", "ALICE"):
            with pytest.raises(Conflict) as info:
                _user(conn, two, name)
            assert info.value.field == "username"
        _user(conn, two, "alice2")


def test_starting_credits_parent_cannot_afford(engine: Engine) -> None:
    parent = _parent(engine, credits=10)
    with engine.begin() as conn:
        with pytest.raises(InsufficientCredits) as info:
            _user(conn, parent, credits=11)
        assert info.value.field == "credits"
        # Nothing half-made stays behind, even if the caller commits after the error.
        assert list_users(conn, parent) == []
    with engine.connect() as conn:
        assert balance(conn, parent.id) == 10
        assert conn.execute(select(accounts.c.id).where(accounts.c.username == "alice")).first() is None
    with engine.begin() as conn:
        child = _user(conn, parent, credits=10)
        assert balance(conn, child.id) == 10 and balance(conn, parent.id) == 0


def test_verify_password(engine: Engine) -> None:
    parent = _parent(engine)
    with engine.begin() as conn:
        child = _user(conn, parent)
    with engine.begin() as conn:
        assert verify_password(conn, "alice", PASSWORD).id == child.id
        for username, password in [
            ("alice", "wrong password"),
            ("alice", ""),
            ("alice", PASSWORD + "x"),
            ("Alice", PASSWORD),
            ("nobody", PASSWORD),
            ("", PASSWORD),
            ("bad\x00name", PASSWORD),
            ("alice", "x" * 5000),
        ]:
            with pytest.raises(AuthenticationError):
                verify_password(conn, username, password)
        # Accounts without a password (made by the operator) cannot sign in with one.
        with pytest.raises(AuthenticationError):
            verify_password(conn, parent.name, PASSWORD)
        set_user_status(conn, parent, "alice", "suspended")
        with pytest.raises(AuthenticationError) as info:
            verify_password(conn, "alice", PASSWORD)
        assert info.value.context == {"suspended": True}


def test_users_are_visible_to_their_parent_only(engine: Engine) -> None:
    one = _parent(engine, name="one", number="+15551230001")
    two = _parent(engine, name="two", number="+15551230002")
    with engine.begin() as conn:
        a = _user(conn, one, "alice", access_level="admin")
        b = _user(conn, one, "bobby", now=NOW + timedelta(seconds=1))
        grandchild = _user(conn, a, "carol")
        other = _user(conn, two, "dave1")
        assert [u.id for u in list_users(conn, one)] == [a.id, b.id]
        assert [u.id for u in list_users(conn, a)] == [grandchild.id]
        assert get_user(conn, one, "alice").id == a.id
        assert get_user(conn, one, b.id).id == b.id
        for ref in ("carol", grandchild.id, "dave1", other.id, "nobody", "", "x\x00y", one.id):
            with pytest.raises(NotFound) as info:
                get_user(conn, one, ref)
            assert info.value.field == "user"
        with pytest.raises(NotFound):
            set_user_status(conn, two, "alice", "suspended")
        with pytest.raises(ValidationError) as vinfo:
            set_user_status(conn, one, "alice", "deleted")
        assert vinfo.value.field == "status"
        assert set_user_status(conn, one, "bobby", "suspended").status == "suspended"
        assert set_user_status(conn, one, "bobby", "active").status == "active"


def test_descendants(engine: Engine) -> None:
    root = _parent(engine, name="root", number="+15551230001")
    other = _parent(engine, name="other", number="+15551230002")
    with engine.begin() as conn:
        a = _user(conn, root, "level1a", access_level="admin")
        b = _user(conn, root, "level1b")
        aa = _user(conn, a, "level2a", access_level="admin")
        aaa = _user(conn, aa, "level3a")
        _user(conn, other, "elsewhere")
        assert descendants(conn, root.id)[:2] == sorted([a.id, b.id])
        assert set(descendants(conn, root.id)) == {a.id, b.id, aa.id, aaa.id}
        assert descendants(conn, a.id) == [aa.id, aaa.id]
        assert descendants(conn, aaa.id) == []


def test_transfer_both_directions(engine: Engine) -> None:
    parent = _parent(engine, credits=100)
    with engine.begin() as conn:
        child = _user(conn, parent, credits=10)
    with engine.begin() as conn:
        out = transfer_credits(conn, parent, "alice", 25, now=NOW, note="top-up")
        back = transfer_credits(conn, parent, child.id, -30, now=NOW + timedelta(seconds=1))
    assert (out.from_account_id, out.to_account_id, out.amount) == (parent.id, child.id, 25)
    assert (out.parent_balance, out.child_balance, out.note) == (65, 35, "top-up")
    assert (back.from_account_id, back.to_account_id, back.amount) == (child.id, parent.id, 30)
    assert (back.parent_balance, back.child_balance) == (95, 5)
    with engine.connect() as conn:
        assert balance(conn, parent.id) == ledger_total(conn, parent.id) == 95
        assert balance(conn, child.id) == ledger_total(conn, child.id) == 5
        entries = conn.execute(
            select(ledger_entries).where(ledger_entries.c.ref == back.id).order_by(ledger_entries.c.id)
        ).all()
    assert [(e.account_id, e.kind, e.amount, e.balance_after) for e in entries] == [
        (child.id, "transfer_out", -30, 5),
        (parent.id, "transfer_in", 30, 95),
    ]


def test_transfer_refusals(engine: Engine) -> None:
    parent = _parent(engine, credits=20, name="one", number="+15551230001")
    stranger = _parent(engine, name="two", number="+15551230002")
    with engine.begin() as conn:
        _user(conn, parent, credits=5)
        foreign = _user(conn, stranger, "bobby")
    with engine.begin() as conn:
        for amount in (0, 1.5, "5", True, None, 10**13):
            with pytest.raises(ValidationError) as info:
                transfer_credits(conn, parent, "alice", amount, now=NOW)  # type: ignore[arg-type]
            assert info.value.field == "amount"
        with pytest.raises(InsufficientCredits) as short:
            transfer_credits(conn, parent, "alice", 16, now=NOW)
        assert short.value.field == "amount"
        with pytest.raises(ValidationError) as below:
            transfer_credits(conn, parent, "alice", -6, now=NOW)
        assert below.value.field == "amount" and below.value.context == {"below_zero": True}
        for ref in ("bobby", foreign.id, "nobody"):
            with pytest.raises(NotFound) as missing:
                transfer_credits(conn, parent, ref, 1, now=NOW)
            assert missing.value.field == "user"
        # Nothing moved.
        assert balance(conn, parent.id) == 15
        assert balance(conn, get_user(conn, parent, "alice").id) == 5
        assert len(conn.execute(select(credit_transfers)).all()) == 1
        # Exactly everything may move, either way.
        assert transfer_credits(conn, parent, "alice", -5, now=NOW).child_balance == 0
        assert transfer_credits(conn, parent, "alice", 20, now=NOW).parent_balance == 0


def test_list_transfers_pages_and_isolation(engine: Engine) -> None:
    parent = _parent(engine, credits=100, name="one", number="+15551230001")
    stranger = _parent(engine, credits=100, name="two", number="+15551230002")
    with engine.begin() as conn:
        alice = _user(conn, parent, "alice")
        bobby = _user(conn, parent, "bobby")
        _user(conn, stranger, "carol", credits=7)
        made = [
            transfer_credits(conn, parent, ref, amount, now=NOW + timedelta(minutes=i))
            for i, (ref, amount) in enumerate([("alice", 10), ("bobby", 4), ("alice", -3), ("bobby", 1)])
        ]
    with engine.connect() as conn:
        first, cursor = list_transfers(conn, parent, limit=3)
        assert cursor is not None
        rest, end = list_transfers(conn, parent, limit=3, cursor=cursor)
        assert end is None
        assert [t.id for t in first + rest] == [t.id for t in reversed(made)]
        assert first + rest == list(reversed(made))  # the same balances, as the ledger recorded them
        a_list, _ = list_transfers(conn, get_account(conn, alice.id))
        assert [t.id for t in a_list] == [made[2].id, made[0].id]
        b_list, _ = list_transfers(conn, get_account(conn, bobby.id))
        assert [t.amount for t in b_list] == [1, 4]
        s_list, _ = list_transfers(conn, stranger)
        assert [t.amount for t in s_list] == [7]
        with pytest.raises(ValidationError):
            list_transfers(conn, parent, cursor="garbage!")
        with pytest.raises(ValidationError):
            list_transfers(conn, parent, limit=0)


def test_concurrent_transfers_and_sends_conserve_credits(engine: Engine) -> None:
    """Threads move credits both ways between a parent and two children while the children send."""
    parent = _parent(engine, credits=200)
    with engine.begin() as conn:
        children = [_user(conn, parent, "child1", credits=20), _user(conn, parent, "child2", credits=20)]
    threads, ops = 6, 15
    sent: list[int] = []
    refused: list[str] = []
    errors: list[BaseException] = []
    lock = threading.Lock()
    barrier = threading.Barrier(threads)

    def worker(n: int) -> None:
        rng = random.Random(n)
        barrier.wait()
        for i in range(ops):
            child = rng.choice(children)
            try:
                with engine.begin() as conn:
                    if rng.random() < 0.35:
                        req = SendRequest(sender="Acme", to=[f"+1555{n:03d}{i:04d}"], body="race")
                        send_messages(conn, child, req, now=datetime.now(UTC))
                        with lock:
                            sent.append(1)
                    else:
                        amount = rng.choice([-1, 1]) * rng.randint(1, 30)
                        transfer_credits(conn, parent, child.id, amount, now=datetime.now(UTC))
            except (InsufficientCredits, ValidationError) as exc:
                with lock:
                    refused.append(type(exc).__name__)
            except BaseException as exc:  # surfaced below; a thread cannot fail the test itself
                with lock:
                    errors.append(exc)

    pool = [threading.Thread(target=worker, args=(n,)) for n in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    assert errors == []
    ids = [parent.id, *(c.id for c in children)]
    with engine.connect() as conn:
        balances = {i: balance(conn, i) for i in ids}
        assert min(balances.values()) >= 0
        assert sum(balances.values()) + len(sent) == 200  # each send cost 1 credit
        for account_id in ids:
            assert ledger_total(conn, account_id) == balances[account_id]
            chain = conn.execute(
                select(ledger_entries.c.amount, ledger_entries.c.balance_after)
                .where(ledger_entries.c.account_id == account_id)
                .order_by(ledger_entries.c.id)
            ).all()
            running = 0
            for amount, after in chain:
                running += amount
                assert after == running >= 0
        transfers = conn.execute(select(credit_transfers)).all()
        entries = conn.execute(select(ledger_entries).where(ledger_entries.c.ref.is_not(None))).all()
    assert len(entries) == 2 * len(transfers)
    by_ref: dict[str, list[Any]] = {}
    for e in entries:
        by_ref.setdefault(e.ref, []).append(e)
    for t in transfers:
        out, into = sorted(by_ref[t.id], key=lambda e: e.kind, reverse=True)
        assert (out.kind, out.account_id, out.amount) == ("transfer_out", t.from_account_id, -t.amount)
        assert (into.kind, into.account_id, into.amount) == ("transfer_in", t.to_account_id, t.amount)
    assert len(transfers) > 2  # the two starting transfers plus the race's


def test_suspended_child_keeps_balance_until_parent_takes_it(engine: Engine) -> None:
    parent = _parent(engine, credits=10)
    with engine.begin() as conn:
        _user(conn, parent, credits=4)
        set_user_status(conn, parent, "alice", "suspended")
        assert transfer_credits(conn, parent, "alice", -4, now=NOW).parent_balance == 10
