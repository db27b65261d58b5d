"""What every route needs: the database, the clock, and the authenticated account.

Database work is synchronous SQLAlchemy; routes hand it to a worker thread with :func:`run_db` so the
event loop never blocks on disk.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBasic, HTTPBasicCredentials, HTTPBearer
from sqlalchemy import Connection, Engine

from textgate.domain.errors import AuthenticationError
from textgate.service.accounts import Account, authenticate_key, authenticate_secret
from textgate.store.db import run_sync

T = TypeVar("T")


def engine_of(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


def now_of(request: Request) -> datetime:
    clock: Callable[[], datetime] = request.app.state.clock
    return clock()


async def run_db(request: Request, fn: Callable[[Connection], T]) -> T:
    """Run ``fn(conn)`` in one transaction on a worker thread; commit on success, roll back on error."""
    engine = engine_of(request)

    def _run() -> T:
        with engine.begin() as conn:
            return fn(conn)

    return await run_sync(engine, _run)


def parse_authorization(header: str | None) -> tuple[str | None, str]:
    """``Bearer <secret>`` → (None, secret); ``Basic base64(key_id:secret)`` → (key_id, secret)."""
    if not header:
        raise AuthenticationError("missing Authorization header (use Bearer <secret> or Basic key_id:secret)")
    scheme, _, value = header.partition(" ")
    value = value.strip()
    if scheme.lower() == "bearer" and value:
        return None, value
    if scheme.lower() == "basic" and value:
        try:
            decoded = base64.b64decode(value, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise AuthenticationError("malformed Basic credentials") from exc
        key_id, sep, secret = decoded.partition(":")
        if sep and key_id and secret:
            return key_id, secret
        raise AuthenticationError("malformed Basic credentials (expected key_id:secret)")
    raise AuthenticationError("unsupported Authorization scheme (use Bearer or Basic)")


@dataclass(frozen=True, slots=True)
class Credentials:
    """What the caller presented; checked against the database by :meth:`authenticate`."""

    key_id: str | None
    secret: str

    def authenticate(self, conn: Connection) -> Account:
        if self.key_id is None:
            return authenticate_secret(conn, self.secret)
        return authenticate_key(conn, self.key_id, self.secret)


# Declared for the OpenAPI document (the "Authorize" button in /docs); parsing is ours.
_bearer = HTTPBearer(auto_error=False, description="The API secret (tgs_...).")
_basic = HTTPBasic(auto_error=False, description="key_id as user name, the secret as password.")


async def credentials(
    request: Request,
    _b: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)] = None,
    _c: Annotated[HTTPBasicCredentials | None, Depends(_basic)] = None,
) -> Credentials:
    key_id, secret = parse_authorization(request.headers.get("authorization"))
    return Credentials(key_id, secret)


async def current_account(request: Request, creds: Annotated[Credentials, Depends(credentials)]) -> Account:
    return await run_db(request, creds.authenticate)


CurrentAccount = Annotated[Account, Depends(current_account)]
#: For hot routes that authenticate inside their own transaction (one thread hop, one transaction).
CurrentCredentials = Annotated[Credentials, Depends(credentials)]


def client_ip(request: Request) -> Any:
    return request.client.host if request.client else None
