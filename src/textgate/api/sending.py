"""Accepting a send from any API surface — the native API and every provider dialect go through here,
so group commit, the idempotency race, metrics and waking the dispatcher are handled in one place."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import Request
from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError

from textgate.api.deps import now_of
from textgate.domain.phone import read_ahead
from textgate.service.accounts import Account
from textgate.service.send import ACCEPTED, Idempotency, SendRequest, SendResult, send_messages
from textgate.store.batch import TransactionBatcher


async def accept_send(
    request: Request,
    authenticate: Callable[[Connection], Account],
    req: SendRequest,
    idempotency: Idempotency | None = None,
) -> SendResult:
    """Authenticate and send in one transaction (shared with concurrent requests by group commit).

    Raises the service's TextgateErrors; each surface renders them in its own format.
    """
    now = now_of(request)
    read_ahead(req.to)  # parsing the numbers is CPU work that need not hold the database lock

    def _send(conn: Connection) -> SendResult:
        return send_messages(conn, authenticate(conn), req, now=now, idempotency=idempotency)

    batcher: TransactionBatcher = request.app.state.batcher
    try:
        result = await batcher.submit(_send)
    except IntegrityError:
        # Two requests raced with the same idempotency key; the loser replays the winner's answer.
        result = await batcher.submit(_send)
    if not result.replayed:
        ACCEPTED.labels(req.source).inc(len(result.body["messages"]))
        gateway = getattr(request.app.state, "gateway", None)
        if gateway is not None:
            gateway.nudge()
    return result
