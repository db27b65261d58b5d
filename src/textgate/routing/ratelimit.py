"""Rate limits that hold across every gateway node sharing one database: token buckets in a table.

A bucket (``route:<name>`` or ``account:<id>``) refills at ``rate`` tokens per second up to ``burst``. A
dispatch round asks each bucket it needs for as many tokens as it has messages, in **one UPDATE per
bucket**, which refills from the time elapsed and takes what is there in the same statement::

    available = least(burst, tokens + greatest(0, now - stamp) * rate)
    granted   = least(wanted, floor(available))
    tokens    = available - granted,  stamp = greatest(stamp, now)      RETURNING granted

The row lock the UPDATE takes is what makes this correct on PostgreSQL with several nodes: the second
node's UPDATE waits for the first to commit and then sees the tokens it left. SQLite serialises writers
anyway (a single node). ``now`` is each node's clock in epoch seconds; ``greatest`` keeps a node whose
clock lags from refilling the bucket twice for the same interval.

A message needs a token from its account's bucket and from its route's bucket. Accounts are asked first,
routes second (each in key order, so two nodes lock rows in the same order and cannot deadlock); account
tokens taken for messages the route then refuses are given back, so a slow route does not eat an
account's allowance for its other routes. A message that gets no token is deferred - not an attempt -
by the time its place in the bucket's queue needs: the j-th refused waits (j+1)/rate seconds.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, Integer, bindparam, cast, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import BindParameter
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import Double

from textgate.domain.clock import utcnow
from textgate.store.schema import rate_buckets


@dataclass(frozen=True, slots=True)
class Bucket:
    key: str
    rate: float
    burst: float


# -- portable greatest/least/floor ------------------------------------------------------------------------
class _greatest(FunctionElement[float]):
    name = "greatest"
    inherit_cache = True


class _least(FunctionElement[float]):
    name = "least"
    inherit_cache = True


class _floor(FunctionElement[int]):
    name = "floor"
    inherit_cache = True


@compiles(_greatest)
def _greatest_default(element: _greatest, compiler: SQLCompiler, **kw: Any) -> str:
    return f"greatest({compiler.process(element.clauses, **kw)})"


@compiles(_greatest, "sqlite")
def _greatest_sqlite(element: _greatest, compiler: SQLCompiler, **kw: Any) -> str:
    return f"max({compiler.process(element.clauses, **kw)})"  # SQLite's scalar max() of several values


@compiles(_least)
def _least_default(element: _least, compiler: SQLCompiler, **kw: Any) -> str:
    return f"least({compiler.process(element.clauses, **kw)})"


@compiles(_least, "sqlite")
def _least_sqlite(element: _least, compiler: SQLCompiler, **kw: Any) -> str:
    return f"min({compiler.process(element.clauses, **kw)})"


@compiles(_floor)
def _floor_default(element: _floor, compiler: SQLCompiler, **kw: Any) -> str:
    return f"CAST(floor({compiler.process(element.clauses, **kw)}) AS INTEGER)"


@compiles(_floor, "sqlite")
def _floor_sqlite(element: _floor, compiler: SQLCompiler, **kw: Any) -> str:
    # floor() needs SQLite's optional math functions; truncation is the same for the non-negative values here.
    return f"CAST({compiler.process(element.clauses, **kw)} AS INTEGER)"


_t = rate_buckets.c
_now: BindParameter[float] = bindparam("now", type_=Double())
_rate: BindParameter[float] = bindparam("rate", type_=Double())
_burst: BindParameter[float] = bindparam("burst", type_=Double())
_want = bindparam("want", type_=Integer())
_available = _least(_burst, _t.tokens + _greatest(cast(0, Double()), _now - _t.stamp) * _rate)
_granted = _least(_want, _floor(_available))

_TAKE = (
    update(rate_buckets)
    .where(_t.key == bindparam("k"))
    .values(tokens=_available - _granted, granted=_granted, stamp=_greatest(_t.stamp, _now))
    .returning(_t.granted)
)
_GIVE_BACK = (
    update(rate_buckets)
    .where(_t.key == bindparam("k"))
    .values(tokens=_least(_burst, _t.tokens + bindparam("n", type_=Double())))
)


def take(conn: Connection, bucket: Bucket, want: int, now: float) -> int:
    """Take up to ``want`` tokens from ``bucket``; how many were granted. Creates the bucket full."""
    params = {"k": bucket.key, "now": now, "rate": bucket.rate, "burst": bucket.burst, "want": want}
    granted = conn.execute(_TAKE, params).scalar()
    if granted is None:
        insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
        conn.execute(
            insert(rate_buckets)
            .values(key=bucket.key, tokens=bucket.burst, stamp=now, granted=0)
            .on_conflict_do_nothing(index_elements=["key"])
        )
        granted = conn.execute(_TAKE, params).scalar_one()
    return int(granted)


def give_back(conn: Connection, bucket: Bucket, n: int) -> None:
    conn.execute(_GIVE_BACK, {"k": bucket.key, "burst": bucket.burst, "n": n})


class SharedBuckets:
    """Admits a round's messages against their account and route buckets (see the module docstring)."""

    def __init__(self, engine: Engine, clock: Callable[[], datetime] = utcnow) -> None:
        self.engine = engine
        self.clock = clock

    def admit(self, wants: Sequence[tuple[Bucket | None, Bucket | None]]) -> list[float | None]:
        """For each message, its (account bucket, route bucket): None = go now, else seconds to wait."""
        result: list[float | None] = [None] * len(wants)
        accounts: dict[str, list[int]] = {}
        routes: dict[str, list[int]] = {}
        buckets: dict[str, Bucket] = {}
        for i, (account, route) in enumerate(wants):
            for bucket, groups in ((account, accounts), (route, routes)):
                if bucket is not None:
                    buckets[bucket.key] = bucket
                    groups.setdefault(bucket.key, []).append(i)
        if not buckets:
            return result
        now = self.clock().timestamp()
        with self.engine.begin() as conn:
            for key in sorted(accounts):
                self._take(conn, buckets[key], accounts[key], now, result)
            refunds: Counter[str] = Counter()
            for key in sorted(routes):
                admitted = [i for i in routes[key] if result[i] is None]
                for i in self._take(conn, buckets[key], admitted, now, result):
                    account = wants[i][0]
                    if account is not None:
                        refunds[account.key] += 1
            for key in sorted(refunds):
                give_back(conn, buckets[key], refunds[key])
        return result

    @staticmethod
    def _take(
        conn: Connection, bucket: Bucket, members: list[int], now: float, result: list[float | None]
    ) -> list[int]:
        """Take tokens for ``members``; the refused ones get their wait in ``result`` and are returned."""
        if not members:
            return []
        granted = take(conn, bucket, len(members), now)
        refused = members[granted:]
        for position, i in enumerate(refused):
            result[i] = (position + 1) / bucket.rate
        return refused
