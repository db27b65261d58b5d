"""Small builders shared by the tests."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, func, select

from textgate.service.accounts import Account, NewKey, add_number, balance, create_account
from textgate.store.schema import messages


class ManualClock:
    """A clock the test moves by hand."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2026, 3, 15, 14, 30, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@dataclass
class Tenant:
    account: Account
    key: NewKey
    number: str


def make_tenant(
    engine: Engine,
    *,
    name: str = "acme",
    credits: int = 1000,
    number: str = "+15551230001",
    region: str = "US",
    now: datetime | None = None,
    owned_senders_only: bool = False,
) -> Tenant:
    now = now or datetime.now(UTC)
    with engine.begin() as conn:
        account, key = create_account(
            conn, name, now=now, credits=credits, region=region, owned_senders_only=owned_senders_only
        )
        e164 = add_number(conn, account, number, now=now)
    return Tenant(account=account, key=key, number=e164)


def stored_count(engine: Engine) -> int:
    """How many messages the database holds."""
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(messages)).scalar_one())


def credits_of(engine: Engine, account_id: str) -> int:
    with engine.connect() as conn:
        return balance(conn, account_id)
