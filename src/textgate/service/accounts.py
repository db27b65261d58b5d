"""Accounts, API keys, sender numbers and credits.

API secrets are shown once, at creation, and stored as SHA-256 digests. Secrets are long random tokens
(not passwords), so a fast digest cannot be brute-forced and keeps per-request authentication cheap;
comparison of digests uses ``hmac.compare_digest``.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import Connection, bindparam, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from textgate.domain.clock import isoformat
from textgate.domain.errors import AuthenticationError, Conflict, NotFound, ValidationError
from textgate.domain.phone import normalize_number
from textgate.domain.pricing import PriceList
from textgate.ids import new_id, random_token
from textgate.store.fast import group_lookup
from textgate.store.schema import accounts, api_keys, ledger_entries, numbers

SECRET_PREFIX = "tgs_"  # noqa: S105 - a prefix, not a secret
#: The unique index on top-level account names (store.schema); a duplicate that slips past the check in
#: ``create_account`` (two concurrent creates) is refused by it.
TOP_LEVEL_NAME_INDEX = "uq_accounts_top_level_name"

#: Options an API key may carry, with their allowed values (the first is the default). They change how
#: answers are written for requests made with that key:
#: ``bestsms_answers`` - ``json``: ``/bestsms/send`` answers ``{"Result": "Success", "MessageID": ...}``;
#: ``plain``: the BestSMS document's plain answers, ``200 OK Thanks`` and ``400 <reason>``.
KEY_OPTIONS: dict[str, tuple[str, ...]] = {"bestsms_answers": ("json", "plain")}


@dataclass(frozen=True, slots=True)
class Account:
    id: str
    name: str
    region: str
    status: str
    prices: PriceList
    owned_senders_only: bool
    parent_id: str | None
    settings: dict[str, Any]
    username: str | None = None
    access_level: str = "admin"
    profile: dict[str, Any] | None = None
    #: Options of the API key the caller authenticated with (see KEY_OPTIONS); None when the account was
    #: not read through a key, or the key has none.
    key_options: dict[str, Any] | None = None

    def key_option(self, name: str) -> str:
        """The authenticating key's value of option ``name``, or its default."""
        value = (self.key_options or {}).get(name)
        return value if isinstance(value, str) else KEY_OPTIONS[name][0]

    @property
    def is_admin(self) -> bool:
        return self.access_level == "admin"

    @property
    def zone(self) -> ZoneInfo:
        """The account's time zone (setting ``timezone``, an IANA name; UTC by default). Dates users type
        without a zone (schedule dates, report ranges) are read in it, and reports are written in it."""
        return zone_of(self.settings.get("timezone"))

    @classmethod
    def from_row(cls, row: Any) -> Account:
        return cls(
            id=row.id,
            name=row.name,
            region=row.region,
            status=row.status,
            prices=PriceList(sms_part=row.price_sms_part, mms=row.price_mms),
            owned_senders_only=bool(row.owned_senders_only),
            parent_id=row.parent_id,
            settings=dict(row.settings or {}),
            username=row.username,
            access_level=row.access_level or "admin",
            profile=dict(row.profile) if row.profile else None,
            key_options=dict(options) if (options := getattr(row, "key_options", None)) else None,
        )


@dataclass(frozen=True, slots=True)
class NewKey:
    key_id: str
    secret: str
    name: str | None
    options: dict[str, str] | None = None


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@lru_cache(maxsize=256)
def zone_of(name: str | None) -> ZoneInfo:
    if not name:
        return ZoneInfo("UTC")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValidationError(
            f"timezone {name!r} is not an IANA time zone name (e.g. Europe/London)", field="timezone"
        ) from exc


def _check_region(region: str) -> str:
    import phonenumbers

    region = region.upper()
    if region not in phonenumbers.SUPPORTED_REGIONS:
        raise ValidationError(f"region {region!r} is not a known ISO 3166 country code", field="region")
    return region


def create_account(
    conn: Connection,
    name: str,
    *,
    now: datetime,
    credits: int = 0,
    region: str = "US",
    prices: PriceList | None = None,
    owned_senders_only: bool = False,
    parent_id: str | None = None,
) -> tuple[Account, NewKey]:
    """Create an account, its opening credits and its first API key, in the caller's transaction."""
    name = name.strip()
    if not name:
        raise ValidationError("name must not be empty", field="name")
    if credits < 0:
        raise ValidationError("credits must not be negative", field="credits")
    if parent_id is None:  # top-level names are what the CLI names accounts by; users have usernames
        # The database's lower() on both sides: the function the unique index uses.
        same = select(accounts.c.id).where(
            func.lower(accounts.c.name) == func.lower(name), accounts.c.parent_id.is_(None)
        )
        if conn.execute(same.limit(1)).first() is not None:
            raise _duplicate_name(name)
    prices = prices or PriceList()
    account_id = new_id("acc")
    try:
        conn.execute(
            insert(accounts).values(
                id=account_id,
                name=name,
                parent_id=parent_id,
                status="active",
                region=_check_region(region),
                balance=0,
                price_sms_part=prices.sms_part,
                price_mms=prices.mms,
                owned_senders_only=owned_senders_only,
                settings={},
                created_at=now,
            )
        )
    except IntegrityError as exc:
        # A concurrent create of the same name committed between the check and the insert.
        if parent_id is None and TOP_LEVEL_NAME_INDEX in str(exc.orig):
            raise _duplicate_name(name) from exc
        raise
    if credits:
        add_credits(conn, account_id, credits, now=now, note="opening balance")
    key = create_key(conn, account_id, now=now)
    return get_account(conn, account_id), key


def _duplicate_name(name: str) -> Conflict:
    return Conflict(f"an account named {name!r} already exists (names are case-insensitive)", field="name")


def update_account(
    conn: Connection,
    account_id: str,
    *,
    price_sms_part: int | None = None,
    price_mms: int | None = None,
    region: str | None = None,
    owned_senders_only: bool | None = None,
    status: str | None = None,
    settings: dict[str, Any] | None = None,
) -> Account:
    """Change an account. ``settings`` are merged into its settings (a ``None`` value removes a key)."""
    values: dict[str, Any] = {}
    for name, price in (("price_sms_part", price_sms_part), ("price_mms", price_mms)):
        if price is not None:
            if price < 0:
                raise ValidationError("prices cannot be negative", field=name)
            values[name] = price
    if region is not None:
        values["region"] = _check_region(region)
    if owned_senders_only is not None:
        values["owned_senders_only"] = owned_senders_only
    if status is not None:
        if status not in ("active", "suspended"):
            raise ValidationError("status must be active or suspended", field="status")
        values["status"] = status
    current = get_account(conn, account_id)
    if settings and settings.get("timezone") is not None:
        zone_of(str(settings["timezone"]))
    if settings:
        merged = {**current.settings, **settings}
        values["settings"] = {k: v for k, v in merged.items() if v is not None}
    if values:
        conn.execute(update(accounts).where(accounts.c.id == account_id).values(**values))
    return get_account(conn, account_id)


def get_account(conn: Connection, account_id: str) -> Account:
    row = conn.execute(select(accounts).where(accounts.c.id == account_id)).first()
    if row is None:
        raise NotFound(f"account {account_id!r} not found", field="account")
    return Account.from_row(row)


def find_account(conn: Connection, ref: str) -> Account:
    """An account by id, or by its name (exact, else case-insensitive) when that names one (for the CLI)."""
    row = conn.execute(select(accounts).where(accounts.c.id == ref)).first()
    if row is None:
        rows = conn.execute(select(accounts).where(accounts.c.name == ref)).all()
        if not rows:
            rows = conn.execute(select(accounts).where(func.lower(accounts.c.name) == ref.lower())).all()
        if len(rows) > 1:
            raise Conflict(f"several accounts are named {ref!r}; use the account id", field="account")
        row = rows[0] if rows else None
    if row is None:
        raise NotFound(f"account {ref!r} not found", field="account")
    return Account.from_row(row)


def balance(conn: Connection, account_id: str) -> int:
    value = conn.execute(select(accounts.c.balance).where(accounts.c.id == account_id)).scalar_one_or_none()
    if value is None:
        raise NotFound(f"account {account_id!r} not found", field="account")
    return int(value)


def check_key_options(options: dict[str, Any] | None) -> dict[str, str] | None:
    """``options`` validated against KEY_OPTIONS; values equal to the default are dropped (None if empty)."""
    checked: dict[str, str] = {}
    for name, value in (options or {}).items():
        allowed = KEY_OPTIONS.get(name)
        if allowed is None:
            known = ", ".join(sorted(KEY_OPTIONS))
            raise ValidationError(f"unknown API key option {name!r} (known: {known})", field="options")
        if value not in allowed:
            raise ValidationError(f"{name} must be one of {', '.join(allowed)}, not {value!r}", field=name)
        if value != allowed[0]:
            checked[name] = value
    return checked or None


def create_key(
    conn: Connection,
    account_id: str,
    *,
    now: datetime,
    name: str | None = None,
    options: dict[str, Any] | None = None,
) -> NewKey:
    """A new API key of the account; ``options`` (see KEY_OPTIONS) change how answers to it are written."""
    key_options = check_key_options(options)
    if name is not None:
        name = name.strip()
        if not name:
            raise ValidationError("key name must not be empty", field="name")
        taken = conn.execute(select(api_keys.c.id).where(api_keys.c.name == name)).first()
        if taken is not None:
            raise Conflict(f"an API key named {name!r} already exists", field="name")
    key_id = new_id("key", 16)
    secret = SECRET_PREFIX + random_token(32)
    conn.execute(
        insert(api_keys).values(
            id=key_id,
            account_id=account_id,
            name=name,
            secret_hash=hash_secret(secret),
            created_at=now,
            options=key_options,
        )
    )
    return NewKey(key_id=key_id, secret=secret, name=name, options=key_options)


def set_key_options(conn: Connection, key_id: str, options: dict[str, Any]) -> dict[str, str] | None:
    """Change an active key's options (merged into its current ones); returns the key's options now."""
    row = conn.execute(
        select(api_keys.c.options).where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
    ).first()
    if row is None:
        raise NotFound(f"active API key {key_id!r} not found", field="key_id")
    merged = check_key_options({**(row.options or {}), **options})
    conn.execute(update(api_keys).where(api_keys.c.id == key_id).values(options=merged))
    return merged


def revoke_key(conn: Connection, key_id: str, *, now: datetime) -> None:
    result = conn.execute(
        update(api_keys)
        .where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    if result.rowcount == 0:
        raise NotFound(f"active API key {key_id!r} not found", field="key_id")


# Built once: authentication runs on every request, and constructing a statement costs more than running it.
_KEY_WITH_ACCOUNT = (
    select(api_keys.c.secret_hash.label("key_secret_hash"), api_keys.c.options.label("key_options"), accounts)
    .join(accounts, accounts.c.id == api_keys.c.account_id)
    .where(api_keys.c.revoked_at.is_(None))
)
_BY_DIGEST = _KEY_WITH_ACCOUNT.where(api_keys.c.secret_hash == bindparam("digest"))
_BY_KEY_ID = _KEY_WITH_ACCOUNT.where(api_keys.c.id == bindparam("ref"))
_BY_KEY_NAME = _KEY_WITH_ACCOUNT.where(api_keys.c.name == bindparam("ref"))


def _checked(row: Any, digest: str) -> Account:
    # Compare against a dummy digest when the key is unknown so both paths take the same time.
    expected = row.key_secret_hash if row is not None else hash_secret("\0unknown")
    if not hmac.compare_digest(expected, digest) or row is None:
        raise AuthenticationError("invalid API key")
    if row.status != "active":
        raise AuthenticationError("this account is suspended", suspended=True)
    return Account.from_row(row)


def authenticate_secret(conn: Connection, secret: str) -> Account:
    """Bearer authentication: the secret alone."""
    digest = hash_secret(secret)
    row = group_lookup(
        conn, ("key-by-digest", digest), lambda: conn.execute(_BY_DIGEST, {"digest": digest}).first()
    )
    return _checked(row, digest)


def authenticate_key(conn: Connection, key_ref: str, secret: str, *, by_name: bool = False) -> Account:
    """Key-id (or key-name) plus secret authentication, as HTTP Basic and most dialects present it."""
    if "\x00" in key_ref or len(key_ref) > 200:
        raise AuthenticationError("invalid API key")  # cannot name a key; PostgreSQL refuses NUL anyway
    query = _BY_KEY_NAME if by_name else _BY_KEY_ID
    row = group_lookup(conn, ("key", by_name, key_ref), lambda: conn.execute(query, {"ref": key_ref}).first())
    return _checked(row, hash_secret(secret))


def add_number(
    conn: Connection, account: Account, number: str, *, now: datetime, status: str = "active"
) -> str:
    if status not in ("active", "inactive"):
        raise ValidationError("status must be active or inactive", field="status")
    e164 = normalize_number(number, region=account.region, field="number")
    owner = conn.execute(select(numbers.c.account_id).where(numbers.c.number == e164)).scalar_one_or_none()
    if owner is not None:
        raise Conflict(f"number {e164} is already assigned", field="number")
    conn.execute(
        insert(numbers).values(
            id=new_id("num", 16),
            account_id=account.id,
            number=e164,
            status=status,
            settings={},
            created_at=now,
        )
    )
    return e164


def set_number_status(conn: Connection, account: Account, number: str, status: str) -> None:
    if status not in ("active", "inactive"):
        raise ValidationError("status must be active or inactive", field="status")
    e164 = normalize_number(number, region=account.region, field="number")
    result = conn.execute(
        update(numbers)
        .where(numbers.c.number == e164, numbers.c.account_id == account.id)
        .values(status=status)
    )
    if result.rowcount == 0:
        raise NotFound(f"number {e164} is not assigned to this account", field="number")


def owned_number(conn: Connection, account_id: str, e164: str) -> Any | None:
    return conn.execute(
        select(numbers).where(numbers.c.number == e164, numbers.c.account_id == account_id)
    ).first()


def add_credits(
    conn: Connection,
    account_id: str,
    amount: int,
    *,
    now: datetime,
    note: str | None = None,
    kind: str = "credit",
) -> int:
    """Append a ledger entry and move the balance by ``amount`` (which may be negative, never below zero)."""
    if amount == 0:
        raise ValidationError("amount must not be zero", field="amount")
    stmt = update(accounts).where(accounts.c.id == account_id)
    if amount < 0:
        stmt = stmt.where(accounts.c.balance >= -amount)
    new_balance = conn.execute(
        stmt.values(balance=accounts.c.balance + amount).returning(accounts.c.balance)
    ).scalar_one_or_none()
    if new_balance is None:
        balance(conn, account_id)  # raises NotFound for an unknown account
        raise ValidationError("the balance cannot go below zero", field="amount", kind=None)
    conn.execute(
        insert(ledger_entries).values(
            account_id=account_id,
            amount=amount,
            balance_after=new_balance,
            kind=kind,
            note=note,
            created_at=now,
        )
    )
    return int(new_balance)


def ledger_total(conn: Connection, account_id: str) -> int:
    total = conn.execute(
        select(func.coalesce(func.sum(ledger_entries.c.amount), 0)).where(
            ledger_entries.c.account_id == account_id
        )
    ).scalar_one()
    return int(total)


#: The kinds of ledger entries: top-ups and corrections (``credit``), a send's charge (``debit``), its
#: refund (``refund``), and the two sides of a transfer between an account and its user.
LEDGER_KINDS = ("credit", "debit", "refund", "transfer_in", "transfer_out")
_LEDGER_CURSOR = "le_"


def ledger_view(row: Any) -> dict[str, Any]:
    return {
        "id": int(row.id),
        "at": isoformat(row.created_at),
        "kind": row.kind,
        "amount": int(row.amount),
        "balance_after": int(row.balance_after),
        "message_id": row.message_id,
        "ref": row.ref,
        "note": row.note,
    }


def ledger_history(
    conn: Connection,
    account_id: str,
    *,
    limit: int = 100,
    cursor: str | None = None,
    kind: str | None = None,
) -> tuple[list[dict[str, Any]], str | None]:
    """The account's ledger entries, newest first (one page), and the cursor of the next page.

    Every entry carries the balance after it, so a page reads like a bank statement; the cursor is
    opaque (``le_`` and the last entry's number)."""
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 1000:
        raise ValidationError("limit must be between 1 and 1000", field="limit")
    le = ledger_entries.c
    conditions: list[Any] = [le.account_id == account_id]
    if kind is not None:
        if kind not in LEDGER_KINDS:
            raise ValidationError(f"kind must be one of {', '.join(LEDGER_KINDS)}", field="kind")
        conditions.append(le.kind == kind)
    if cursor is not None:
        raw = cursor[len(_LEDGER_CURSOR) :] if cursor.startswith(_LEDGER_CURSOR) else ""
        if not raw.isascii() or not raw.isdigit() or len(raw) > 18:
            raise ValidationError("cursor is not one this API returned", field="cursor")
        conditions.append(le.id < int(raw))
    rows = conn.execute(
        select(ledger_entries).where(*conditions).order_by(le.id.desc()).limit(limit + 1)
    ).all()
    entries = [ledger_view(r) for r in rows[:limit]]
    more = len(rows) > limit
    return entries, f"{_LEDGER_CURSOR}{entries[-1]['id']}" if more else None
