"""Users: sub-accounts an admin account creates, their passwords, and credits moved between them.

A user is an ordinary account with ``parent_id`` set, a ``username`` and a password; it sends with its own
API key and its own balance. Design choices:

* **Tenancy.** A parent sees and manages only its *direct* children. Asking for anyone else's user (a
  sibling's, a grandchild, another tenant's) answers ``NotFound(field="user")`` exactly as an unknown name
  does, so a caller cannot probe which usernames exist elsewhere. Creating users, changing their status
  and moving credits need ``access_level == "admin"``.
* **Usernames** are unique across the gateway, compared case-insensitively when checked (``Bob`` and
  ``bob`` would be confusable sign-in names); the database's unique constraint backs the check up against
  a concurrent create, and that race is also answered with ``Conflict``.
* **Passwords** are stored as scrypt (N=2**14, r=8, p=1, 16-byte random salt, 32-byte key) in the
  self-describing form ``scrypt$N$r$p$salt$hash``; verification reads the parameters from the stored value,
  so they can be raised later without invalidating old hashes. An unknown username still costs one scrypt
  run against a dummy hash, so response time does not reveal which usernames exist.
* **Transfers** move credits between a parent and one of its children, in either direction, as one
  ``credit_transfers`` row plus a ``transfer_out`` and a ``transfer_in`` ledger entry (``ref`` = the
  transfer id). Balances only change through guarded ``UPDATE ... WHERE balance >= x``, so concurrent
  sends and transfers can neither lose an update nor drive a balance negative. On PostgreSQL both account
  rows are first locked in id order (``SELECT ... FOR UPDATE``), so a transfer one way and one the other
  way cannot deadlock; SQLite serialises writers with ``BEGIN IMMEDIATE`` already.
* A user's starting credits are such a transfer, in the same transaction as its creation.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher
from sqlalchemy import Connection, and_, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from textgate.domain.errors import (
    AuthenticationError,
    Conflict,
    InsufficientCredits,
    NotFound,
    PermissionDenied,
    ValidationError,
)
from textgate.domain.phone import normalize_number
from textgate.ids import new_id
from textgate.service.accounts import Account, NewKey, create_account, get_account
from textgate.service.messages import decode_cursor, encode_cursor
from textgate.store.schema import accounts, credit_transfers, ledger_entries

ACCESS_LEVELS = ("normal", "admin")
USER_STATUSES = ("active", "suspended")
MIN_PASSWORD = 8
# Long enough for any passphrase; bounded so a request cannot make us hash megabytes.
MAX_PASSWORD = 1024
MAX_NAME = 100
MAX_NOTE = 200
# Far above any real balance, far below BIGINT's limit: larger input is a typo or an attack.
MAX_CREDITS = 10**12
MAX_DEPTH = 10

SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
_SALT_BYTES, _KEY_BYTES = 16, 32
_USERNAME = re.compile(r"[A-Za-z0-9._@-]{3,100}")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s.]+")


@dataclass(frozen=True, slots=True)
class Transfer:
    id: str
    from_account_id: str
    to_account_id: str
    #: Always positive; the direction is from → to.
    amount: int
    #: Balances right after this transfer, as the ledger recorded them.
    parent_balance: int
    child_balance: int
    created_at: datetime
    note: str | None = None


# -- passwords ---------------------------------------------------------------------------------------


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(
        password.encode(), salt=salt, n=n, r=r, p=p, maxmem=64 * 1024 * 1024, dklen=_KEY_BYTES
    )


#: New passwords: argon2id through pwdlib (its recommended parameters). Hashes from earlier versions
#: (``scrypt$...``) still verify, and are replaced by an argon2 one at the next successful sign-in.
_HASHER = PasswordHash((Argon2Hasher(),))


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def _legacy_scrypt(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest, validate=True)
        actual = _scrypt(password, base64.b64decode(salt, validate=True), int(n), int(r), int(p))
    except ValueError:
        return False
    return hmac.compare_digest(actual, expected)


def needs_rehash(stored: str) -> bool:
    """True for a hash from an earlier version (scrypt) or with weaker parameters than today's."""
    return stored.startswith("scrypt$") or _HASHER.current_hasher.check_needs_rehash(stored)


@functools.cache
def _dummy_hash() -> str:
    """Verified against when the username is unknown, so that path costs one hash run too. Made on
    first use: importing the module should not cost a hash run."""
    return hash_password("\0not a password")


def check_password(password: str, stored: str) -> bool:
    """True when ``password`` matches ``stored`` (a :func:`hash_password` value, or an earlier version's
    scrypt one); False for any mismatch or for a stored value in an unknown format."""
    if stored.startswith("scrypt$"):
        return _legacy_scrypt(password, stored)
    try:
        return bool(_HASHER.verify(password, stored))
    except Exception:  # pwdlib.exceptions.UnknownHashError and malformed hashes: no match
        return False


def verify_password(conn: Connection, username: str, password: str) -> Account:
    """The account signing in as ``username`` with ``password``; AuthenticationError otherwise."""
    if not isinstance(password, str) or len(password) > MAX_PASSWORD:
        password = ""  # still hashed below, so a malformed request takes as long as any other
    row = None
    if isinstance(username, str) and _USERNAME.fullmatch(username):
        row = conn.execute(select(accounts).where(accounts.c.username == username)).first()
    stored = row.password_hash if row is not None and row.password_hash else _dummy_hash()
    ok = check_password(password, stored)
    if row is None or not row.password_hash or not ok or not password:
        raise AuthenticationError("invalid username or password")
    if row.status != "active":
        raise AuthenticationError("this account is suspended", suspended=True)
    if needs_rehash(row.password_hash):
        conn.execute(
            update(accounts).where(accounts.c.id == row.id).values(password_hash=hash_password(password))
        )
    return Account.from_row(row)


# -- validation --------------------------------------------------------------------------------------


def _text(value: Any, field: str, *, max_len: int = MAX_NAME) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(f"{field} is required", field=field)
    text: str = value.strip()
    if len(text) > max_len:
        raise ValidationError(f"{field} must be at most {max_len} characters", field=field)
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in text):
        raise ValidationError(f"{field} must not contain control characters", field=field)
    return text


def _count(value: Any, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError(f"{field} must be a whole number", field=field)
    if value < 0:
        raise ValidationError(f"{field} must not be negative", field=field)
    if value > MAX_CREDITS:
        raise ValidationError(f"{field} must be at most {MAX_CREDITS}", field=field)
    return value


def _username(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValidationError("username is required", field="username")
    name: str = value.strip()
    if not _USERNAME.fullmatch(name):
        raise ValidationError(
            "username must be 3 to 100 characters of letters, digits and . _ - @", field="username"
        )
    return name


def _password(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise ValidationError("password is required", field="password")
    if len(value) < MIN_PASSWORD:
        raise ValidationError(f"password must be at least {MIN_PASSWORD} characters", field="password")
    if len(value) > MAX_PASSWORD:
        raise ValidationError(f"password must be at most {MAX_PASSWORD} characters", field="password")
    return value


def _access_level(value: Any) -> str:
    level = value.strip().lower() if isinstance(value, str) else ""
    if level not in ACCESS_LEVELS:
        raise ValidationError("access_level must be Normal or Admin", field="access_level")
    return level


def _email(value: Any) -> str:
    email = _text(value, "email", max_len=254)
    if not _EMAIL.fullmatch(email):
        raise ValidationError(f"email {email!r} is not an email address", field="email")
    return email


def _require_admin(parent: Account, action: str) -> None:
    if not parent.is_admin:
        raise PermissionDenied(f"only admin users may {action}", field="access_level")


# -- users -------------------------------------------------------------------------------------------


def create_user(
    conn: Connection,
    parent: Account,
    *,
    username: str,
    password: str,
    access_level: str,
    first_name: str,
    last_name: str,
    email: str,
    telephone: str | None = None,
    credits: int = 0,
    credit_reminder: int | None = None,
    alert_days: int | None = None,
    now: datetime,
) -> tuple[Account, NewKey]:
    """Create a child account of ``parent`` with its first API key; its starting ``credits`` are
    transferred from the parent in the same transaction."""
    _require_admin(parent, "create users")
    username = _username(username)
    password = _password(password)
    level = _access_level(access_level)
    first = _text(first_name, "first_name")
    last = _text(last_name, "last_name")
    email = _email(email)
    phone = None
    if telephone is not None and (not isinstance(telephone, str) or telephone.strip()):
        phone = normalize_number(str(telephone), region=parent.region, field="telephone")
    credits = _count(credits, "credits")
    reminder = None if credit_reminder is None else _count(credit_reminder, "credit_reminder")
    alert = None if alert_days is None else _count(alert_days, "alert_days")

    taken = conn.execute(
        select(accounts.c.id).where(func.lower(accounts.c.username) == username.lower())
    ).first()
    if taken is not None:
        raise Conflict(f"username {username!r} is already taken", field="username")
    password_hash = hash_password(password)
    settings = {"timezone": parent.settings["timezone"]} if parent.settings.get("timezone") else {}
    profile = {
        "first_name": first,
        "last_name": last,
        "email": email,
        "telephone": phone,
        "credit_reminder": reminder,
        "alert_days": alert,
    }
    # A concurrent create of the same username gets past the check above; the unique constraint stops
    # it. The savepoint keeps the caller's transaction usable (PostgreSQL aborts it otherwise) and leaves
    # no half-made user behind when the parent cannot pay the starting credits.
    try:
        with conn.begin_nested():
            child, key = create_account(
                conn,
                f"{first} {last}",
                now=now,
                region=parent.region,
                prices=parent.prices,
                owned_senders_only=parent.owned_senders_only,
                parent_id=parent.id,
            )
            conn.execute(
                update(accounts)
                .where(accounts.c.id == child.id)
                .values(
                    username=username,
                    password_hash=password_hash,
                    access_level=level,
                    profile=profile,
                    settings=settings,
                )
            )
            if credits:
                try:
                    _move(conn, parent, child.id, credits, now=now, note="starting credits")
                except InsufficientCredits as exc:
                    raise InsufficientCredits(exc.message, field="credits") from exc
    except IntegrityError as exc:
        raise Conflict(f"username {username!r} is already taken", field="username") from exc
    return get_account(conn, child.id), key


def list_users(conn: Connection, parent: Account) -> list[Account]:
    """The parent's direct children, oldest first."""
    rows = conn.execute(
        select(accounts)
        .where(accounts.c.parent_id == parent.id)
        .order_by(accounts.c.created_at, accounts.c.id)
    ).all()
    return [Account.from_row(r) for r in rows]


def get_user(conn: Connection, parent: Account, ref: str) -> Account:
    """One of the parent's own children, by account id or username."""
    row = None
    if isinstance(ref, str) and ref and len(ref) <= 100 and "\x00" not in ref:
        row = conn.execute(
            select(accounts).where(
                accounts.c.parent_id == parent.id, or_(accounts.c.id == ref, accounts.c.username == ref)
            )
        ).first()
    if row is None:
        raise NotFound(f"user {ref!r} not found", field="user")
    return Account.from_row(row)


def set_user_status(conn: Connection, parent: Account, ref: str, status: str) -> Account:
    _require_admin(parent, "change users")
    if status not in USER_STATUSES:
        raise ValidationError("status must be active or suspended", field="status")
    child = get_user(conn, parent, ref)
    conn.execute(update(accounts).where(accounts.c.id == child.id).values(status=status))
    return get_account(conn, child.id)


def descendants(conn: Connection, account_id: str) -> list[str]:
    """Ids of the account's children, grandchildren, ... (breadth first, at most ``MAX_DEPTH`` levels).

    One query per level: trees are shallow, and this runs the same on both databases."""
    found: list[str] = []
    seen = {account_id}
    level = [account_id]
    for _ in range(MAX_DEPTH):
        children = conn.execute(
            select(accounts.c.id).where(accounts.c.parent_id.in_(level)).order_by(accounts.c.id)
        ).scalars()
        level = [c for c in children if c not in seen]
        if not level:
            break
        seen.update(level)
        found.extend(level)
    return found


# -- credit transfers --------------------------------------------------------------------------------


def transfer_credits(
    conn: Connection, parent: Account, ref: str, amount: int, *, now: datetime, note: str | None = None
) -> Transfer:
    """Move ``amount`` credits to the child ``ref`` (or ``-amount`` from it, when negative)."""
    _require_admin(parent, "transfer credits")
    if isinstance(amount, bool) or not isinstance(amount, int) or amount == 0:
        raise ValidationError("amount must be a non-zero whole number of credits", field="amount")
    if abs(amount) > MAX_CREDITS:
        raise ValidationError(f"amount must be at most {MAX_CREDITS} credits", field="amount")
    if note is not None:
        note = _text(note, "note", max_len=MAX_NOTE)
    child = get_user(conn, parent, ref)
    return _move(conn, parent, child.id, amount, now=now, note=note)


_TAKE = update(accounts).returning(accounts.c.balance)


def _move(
    conn: Connection, parent: Account, child_id: str, amount: int, *, now: datetime, note: str | None
) -> Transfer:
    source, target = (parent.id, child_id) if amount > 0 else (child_id, parent.id)
    value = abs(amount)
    # Lock both rows in a fixed order before touching either, so opposite transfers cannot deadlock.
    # FOR UPDATE renders as nothing on SQLite, whose writers are already serialised.
    conn.execute(
        select(accounts.c.id)
        .where(accounts.c.id.in_(sorted({source, target})))
        .order_by(accounts.c.id)
        .with_for_update()
    ).all()
    source_after = conn.execute(
        _TAKE.where(accounts.c.id == source, accounts.c.balance >= value).values(
            balance=accounts.c.balance - value
        )
    ).scalar_one_or_none()
    if source_after is None:
        have = conn.execute(select(accounts.c.balance).where(accounts.c.id == source)).scalar_one()
        if source == parent.id:
            raise InsufficientCredits(
                f"the transfer needs {value} credits and your balance is {have}", field="amount"
            )
        raise ValidationError(
            f"the user's balance is {have}; taking {value} credits would leave it below zero",
            field="amount",
            below_zero=True,
        )
    target_after = conn.execute(
        _TAKE.where(accounts.c.id == target).values(balance=accounts.c.balance + value)
    ).scalar_one()
    transfer_id = new_id("ctr")
    conn.execute(
        insert(credit_transfers).values(
            id=transfer_id,
            from_account_id=source,
            to_account_id=target,
            amount=value,
            created_by=parent.id,
            note=note,
            created_at=now,
        )
    )
    conn.execute(
        insert(ledger_entries),
        [
            {
                "account_id": source,
                "amount": -value,
                "balance_after": source_after,
                "kind": "transfer_out",
                "note": note,
                "ref": transfer_id,
                "created_at": now,
            },
            {
                "account_id": target,
                "amount": value,
                "balance_after": target_after,
                "kind": "transfer_in",
                "note": note,
                "ref": transfer_id,
                "created_at": now,
            },
        ],
    )
    parent_after, child_after = (source_after, target_after) if amount > 0 else (target_after, source_after)
    return Transfer(
        id=transfer_id,
        from_account_id=source,
        to_account_id=target,
        amount=value,
        parent_balance=int(parent_after),
        child_balance=int(child_after),
        created_at=now,
        note=note,
    )


def list_transfers(
    conn: Connection, account: Account, limit: int = 100, cursor: str | None = None
) -> tuple[list[Transfer], str | None]:
    """Transfers where the account is either side, newest first, and the cursor of the next page."""
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 1000:
        raise ValidationError("limit must be between 1 and 1000", field="limit")
    t = credit_transfers.c
    conditions: list[Any] = [or_(t.from_account_id == account.id, t.to_account_id == account.id)]
    if cursor:
        at, last_id = decode_cursor(cursor)
        if at.tzinfo is None:
            raise ValidationError("cursor is not one this API returned", field="cursor")
        conditions.append(or_(t.created_at < at, and_(t.created_at == at, t.id < last_id)))
    rows = conn.execute(
        select(credit_transfers)
        .where(*conditions)
        .order_by(t.created_at.desc(), t.id.desc())
        .limit(limit + 1)
    ).all()
    page = rows[:limit]
    after: dict[tuple[str, str], int] = {}
    if page:
        # Balances after each transfer are what its ledger entries recorded.
        entries = conn.execute(
            select(ledger_entries.c.ref, ledger_entries.c.account_id, ledger_entries.c.balance_after).where(
                ledger_entries.c.account_id.in_(
                    {a for r in page for a in (r.from_account_id, r.to_account_id)}
                ),
                ledger_entries.c.ref.in_([r.id for r in page]),
            )
        ).all()
        after = {(e.ref, e.account_id): int(e.balance_after) for e in entries}
    out = []
    for r in page:
        child_id = r.to_account_id if r.from_account_id == r.created_by else r.from_account_id
        out.append(
            Transfer(
                id=r.id,
                from_account_id=r.from_account_id,
                to_account_id=r.to_account_id,
                amount=int(r.amount),
                parent_balance=after.get((r.id, r.created_by), 0),
                child_balance=after.get((r.id, child_id), 0),
                created_at=r.created_at,
                note=r.note,
            )
        )
    next_cursor = encode_cursor(page[-1].created_at, page[-1].id) if len(rows) > limit else None
    return out, next_cursor


def set_login(conn: Connection, account_id: str, username: str, password: str) -> None:
    """Give an account (a top-level one, or a user) the dashboard sign-in ``username``/``password``."""
    if not isinstance(username, str) or not _USERNAME.fullmatch(username):
        raise ValidationError("username must be 3-100 letters, digits or . _ @ -", field="username")
    if not isinstance(password, str) or not 8 <= len(password) <= MAX_PASSWORD:
        raise ValidationError(f"password must be 8 to {MAX_PASSWORD} characters", field="password")
    taken = conn.execute(
        select(accounts.c.id).where(
            func.lower(accounts.c.username) == username.lower(), accounts.c.id != account_id
        )
    ).first()
    if taken is not None:
        raise Conflict(f"username {username!r} is already taken", field="username")
    try:
        with conn.begin_nested():
            done = conn.execute(
                update(accounts)
                .where(accounts.c.id == account_id)
                .values(username=username, password_hash=hash_password(password))
            ).rowcount
    except IntegrityError:
        raise Conflict(f"username {username!r} is already taken", field="username") from None
    if not done:
        raise NotFound(f"account {account_id!r} not found", field="account")
