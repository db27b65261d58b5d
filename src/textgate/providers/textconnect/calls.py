"""What every Text-Connect action works with: the call's parameters, its account, its answers."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from fastapi.responses import PlainTextResponse, Response
from sqlalchemy import Connection

from textgate.api.deps import run_db
from textgate.domain.errors import AuthenticationError
from textgate.service.accounts import Account, authenticate_secret


class TCError(Exception):
    """An answer that is one of Text-Connect's codes."""

    def __init__(self, code: int, detail: str | None = None) -> None:
        super().__init__(code)
        self.code = code
        self.detail = detail


@dataclass(slots=True)
class Call:
    request: Request
    params: dict[str, str]  # keys lower-cased
    #: Authenticated before any action runs, so a bad token is -501 whatever else is wrong.
    account: Account | None = None

    def get(self, name: str) -> str | None:
        return self.params.get(name.lower())

    def flag(self, name: str) -> bool:
        return (self.get(name) or "").strip() == "1"

    async def db(self, fn: Callable[[Connection, Account], Any]) -> Any:
        token = self.get("Token") or ""

        def _run(conn: Connection) -> Any:
            return fn(conn, authenticate_token(conn, token))

        return await run_db(self.request, _run)


def authenticate_token(conn: Connection, token: str) -> Account:
    if not token.strip():
        raise TCError(-501)
    try:
        return authenticate_secret(conn, token.strip())
    except AuthenticationError as exc:
        raise TCError(-512 if exc.context.get("suspended") else -501) from exc


def text_answer(body: str) -> Response:
    return PlainTextResponse(body)
