"""Group commit on the accept path, seen from the API: concurrent sends share write transactions, and each
request still gets its own authentication, credit check, idempotency and answer, only after its own data
is committed. On SQLite and PostgreSQL (the ``engine`` fixture), through the whole ASGI app.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Iterator
from typing import Any, TypeVar

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import Engine, event, func, select

from tests.helpers import ManualClock, Tenant, credits_of, make_tenant, stored_count
from textgate.config import Settings
from textgate.store.batch import TransactionBatcher
from textgate.store.schema import ledger_entries, messages
from textgate.web.app import create_app

T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T], timeout: float = 60.0) -> T:
    return asyncio.run(asyncio.wait_for(coro, timeout))


@pytest.fixture
def app(engine: Engine, clock: ManualClock) -> FastAPI:
    settings = Settings(database_url="sqlite://", run_workers=False)
    return create_app(settings, engine=engine, clock=clock, workers=False)


@pytest.fixture
def commits(engine: Engine) -> Iterator[list[int]]:
    """Counts the engine's commits (root transactions, not savepoints)."""
    seen: list[int] = []

    def on_commit(conn: Any) -> None:
        seen.append(1)

    event.listen(engine, "commit", on_commit)
    yield seen
    event.remove(engine, "commit", on_commit)


def client(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gate")


def send(tenant: Tenant, to: str, key: str | None = None, body: str = "group commit") -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {tenant.key.secret}"}
    if key is not None:
        headers["Idempotency-Key"] = key
    return {"headers": headers, "json": {"from": tenant.number, "to": to, "body": body}}


def numbers(count: int, start: int = 0) -> list[str]:
    return [f"+1555010{n:04d}" for n in range(start, start + count)]


def test_concurrent_sends_share_commits_and_each_is_answered_with_its_own_message(
    app: FastAPI, engine: Engine, clock: ManualClock, commits: list[int]
) -> None:
    tenant = make_tenant(engine, credits=1000, now=clock())
    to = numbers(60)

    async def body() -> list[httpx.Response]:
        async with client(app) as c:
            commits.clear()
            return await asyncio.gather(*(c.post("/v1/messages", **send(tenant, n)) for n in to))

    answers = run(body())
    assert [a.status_code for a in answers] == [202] * len(to)
    ids = [a.json()["messages"][0]["id"] for a in answers]
    with engine.connect() as conn:
        rows = dict(conn.execute(select(messages.c.id, messages.c.to_addr)).all())
    # Each answer names the message stored for its own recipient.
    assert [rows[i] for i in ids] == to
    assert len(set(ids)) == len(to)
    # Shared: far fewer commits than requests (a request alone would be one commit each).
    assert 1 <= len(commits) < len(to) / 2, len(commits)
    assert credits_of(engine, tenant.account.id) == 1000 - len(to)


def test_a_request_refused_inside_a_group_leaves_the_others_committed(
    app: FastAPI, engine: Engine, clock: ManualClock
) -> None:
    rich = make_tenant(engine, name="rich", credits=1000, now=clock())
    poor = make_tenant(engine, name="poor", credits=3, number="+15551230002", now=clock())
    plan = [(poor if i % 4 == 0 else rich, n) for i, n in enumerate(numbers(40))]  # 10 from poor

    async def body() -> list[httpx.Response]:
        async with client(app) as c:
            calls = [c.post("/v1/messages", **send(t, n)) for t, n in plan]
            calls.append(c.post("/v1/messages", **send(rich, "not a number")))  # refused by validation
            stranger = {**send(rich, "+15550109999"), "headers": {"Authorization": "Bearer wrong"}}
            calls.append(c.post("/v1/messages", **stranger))
            return await asyncio.gather(*calls)

    answers = run(body())
    *sends, invalid, unauthenticated = answers
    assert invalid.status_code == 400 and "to" in invalid.text
    assert unauthenticated.status_code == 401
    poor_answers = [a.status_code for (t, _), a in zip(plan, sends, strict=True) if t is poor]
    rich_answers = [a.status_code for (t, _), a in zip(plan, sends, strict=True) if t is rich]
    assert rich_answers == [202] * 30
    assert sorted(poor_answers) == [202] * 3 + [402] * 7  # the balance covers three
    assert credits_of(engine, poor.account.id) == 0
    assert credits_of(engine, rich.account.id) == 1000 - 30
    assert stored_count(engine) == 33
    with engine.connect() as conn:  # the ledger agrees with the balances: one debit per stored message
        debits = conn.execute(
            select(func.count()).select_from(ledger_entries).where(ledger_entries.c.amount < 0)
        )
        assert debits.scalar_one() == 33


def test_one_idempotency_key_sent_concurrently_stores_one_message(
    app: FastAPI, engine: Engine, clock: ManualClock
) -> None:
    tenant = make_tenant(engine, credits=100, now=clock())

    async def body() -> list[httpx.Response]:
        async with client(app) as c:
            same = [c.post("/v1/messages", **send(tenant, "+15550100001", key="order-77")) for _ in range(12)]
            other = [c.post("/v1/messages", **send(tenant, "+15550100002", key="order-78"))]
            return await asyncio.gather(*same, *other)

    *same, other = run(body())
    assert {a.status_code for a in same} <= {200, 202}
    assert len({a.json()["messages"][0]["id"] for a in same}) == 1
    assert other.status_code == 202
    assert stored_count(engine) == 2
    assert credits_of(engine, tenant.account.id) == 98


def test_units_run_and_commit_in_the_order_they_arrived(engine: Engine) -> None:
    batcher = TransactionBatcher(engine)
    order: list[int] = []

    def unit(n: int) -> Any:
        def fn(conn: Any) -> int:
            order.append(n)
            return n

        return fn

    async def body() -> list[int]:
        return await asyncio.gather(*(batcher.submit(unit(n)) for n in range(100)))

    assert run(body()) == list(range(100))
    assert order == list(range(100))


def test_answers_lost_after_the_commit_are_recovered_by_the_idempotency_key(
    app: FastAPI, engine: Engine, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The process dies between the group's commit and the answers: no client heard back. Each retries
    with its key and is answered with the message stored the first time - none stored or charged twice."""
    tenant = make_tenant(engine, credits=100, now=clock())
    to = numbers(20)
    original = TransactionBatcher._run

    def commit_then_die(self: TransactionBatcher, batch: list[Any]) -> list[tuple[bool, Any]]:
        original(self, batch)  # committed
        return [(False, ConnectionResetError("the gateway died before answering"))] * len(batch)

    async def post_all(c: httpx.AsyncClient) -> list[httpx.Response | BaseException]:
        calls = [c.post("/v1/messages", **send(tenant, n, key=f"k-{n}")) for n in to]
        return await asyncio.gather(*calls, return_exceptions=True)

    async def body() -> tuple[list[Any], list[Any]]:
        async with client(app) as c:
            monkeypatch.setattr(TransactionBatcher, "_run", commit_then_die)
            lost = await post_all(c)
            monkeypatch.setattr(TransactionBatcher, "_run", original)
            return lost, await post_all(c)

    lost, retried = run(body())
    assert all(isinstance(r, BaseException) or r.status_code >= 500 for r in lost)
    assert stored_count(engine) == len(to)  # the first attempt was stored, though nobody was told
    assert [(r.status_code, r.headers.get("Idempotent-Replayed")) for r in retried] == [(202, "true")] * len(
        to
    )
    with engine.connect() as conn:
        rows = dict(conn.execute(select(messages.c.id, messages.c.to_addr)).all())
    assert [rows[r.json()["messages"][0]["id"]] for r in retried] == to
    assert stored_count(engine) == len(to)
    assert credits_of(engine, tenant.account.id) == 100 - len(to)


def test_a_unit_that_fails_after_writing_is_undone_alone(engine: Engine, clock: ManualClock) -> None:
    """A unit that raises after it wrote (its debit, its rows) leaves nothing behind; the rest of its
    group is committed all the same and each gets its own outcome."""
    from textgate.service.accounts import authenticate_secret
    from textgate.service.send import SendRequest, send_messages

    tenant = make_tenant(engine, credits=100, now=clock())
    batcher = TransactionBatcher(engine)

    def unit(to: str, fail: bool = False) -> Any:
        def fn(conn: Any) -> Any:
            account = authenticate_secret(conn, tenant.key.secret)
            result = send_messages(
                conn, account, SendRequest(sender=tenant.number, to=[to], body="x"), now=clock()
            )
            if fail:
                raise RuntimeError("the request's handler broke after sending")
            return result.body["messages"][0]["to"]

        return fn

    to = numbers(9)

    async def body() -> list[Any]:
        units = [unit(n, fail=(i == 4)) for i, n in enumerate(to)]
        return await asyncio.gather(*(batcher.submit(u) for u in units), return_exceptions=True)

    outcomes = run(body())
    assert isinstance(outcomes[4], RuntimeError)
    assert [o for i, o in enumerate(outcomes) if i != 4] == [n for i, n in enumerate(to) if i != 4]
    with engine.connect() as conn:
        stored = set(conn.execute(select(messages.c.to_addr)).scalars())
    assert stored == set(to) - {to[4]}
    assert credits_of(engine, tenant.account.id) == 100 - 8
