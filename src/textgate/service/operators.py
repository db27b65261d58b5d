"""Operators: the people who run the gateway. They sign in to the dashboard (web/dashboard) and see every
account; they are not accounts and have no API keys. Created with ``textgate operators create``."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from datetime import datetime

from sqlalchemy import Connection, insert, select, update
from sqlalchemy.exc import IntegrityError

from textgate.domain.errors import AuthenticationError, Conflict, ValidationError
from textgate.ids import new_id
from textgate.service.users import MAX_PASSWORD, _dummy_hash, check_password, hash_password, needs_rehash
from textgate.store.schema import gateway_secrets, operators

_USERNAME = re.compile(r"[A-Za-z0-9._@-]{3,100}")
MIN_PASSWORD = 8


def _checked(username: str, password: str) -> tuple[str, str]:
    if not _USERNAME.fullmatch(username or ""):
        raise ValidationError("username must be 3-100 letters, digits or . _ @ -", field="username")
    if not isinstance(password, str) or not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise ValidationError(
            f"password must be {MIN_PASSWORD} to {MAX_PASSWORD} characters", field="password"
        )
    return username, password


def create_operator(conn: Connection, username: str, password: str, *, now: datetime) -> str:
    username, password = _checked(username, password)
    operator_id = new_id("op")
    try:
        with conn.begin_nested():
            conn.execute(
                insert(operators).values(
                    id=operator_id, username=username, password_hash=hash_password(password), created_at=now
                )
            )
    except IntegrityError:
        raise Conflict(f"operator {username!r} exists already", field="username") from None
    return operator_id


def set_operator_password(conn: Connection, username: str, password: str) -> None:
    username, password = _checked(username, password)
    done = conn.execute(
        update(operators)
        .where(operators.c.username == username)
        .values(password_hash=hash_password(password))
    ).rowcount
    if not done:
        raise ValidationError(f"no operator {username!r}", field="username")


def list_operators(conn: Connection) -> list[dict[str, object]]:
    rows = conn.execute(select(operators.c.id, operators.c.username, operators.c.created_at)).all()
    return [dict(r._mapping) for r in rows]


def verify_operator(conn: Connection, username: str, password: str) -> str:
    """The id of the operator signing in; AuthenticationError otherwise (the same cost either way)."""
    if not isinstance(password, str) or len(password) > MAX_PASSWORD:
        password = ""
    row = None
    if isinstance(username, str) and _USERNAME.fullmatch(username):
        row = conn.execute(select(operators).where(operators.c.username == username)).first()
    stored = row.password_hash if row is not None else _dummy_hash()
    if not check_password(password, stored) or row is None or not password:
        raise AuthenticationError("invalid username or password")
    if needs_rehash(row.password_hash):
        conn.execute(
            update(operators).where(operators.c.id == row.id).values(password_hash=hash_password(password))
        )
    return str(row.id)


def operator_exists(conn: Connection, operator_id: str) -> bool:
    return conn.execute(select(operators.c.id).where(operators.c.id == operator_id)).first() is not None


def shared_secret(conn: Connection, name: str, configured: str | None, *, now: datetime) -> str:
    """A secret every node of the gateway shares: derived from the configured ``secret_key`` when there
    is one, else made once and kept in the database (``gateway_secrets``)."""
    if configured:
        return hmac.new(configured.encode(), f"textgate {name}".encode(), hashlib.sha256).hexdigest()
    value = conn.execute(select(gateway_secrets.c.value).where(gateway_secrets.c.name == name)).scalar()
    if value is not None:
        return str(value)
    try:
        with conn.begin_nested():
            made = secrets.token_hex(32)
            conn.execute(insert(gateway_secrets).values(name=name, value=made, created_at=now))
            return made
    except IntegrityError:  # another node made it first
        return str(
            conn.execute(select(gateway_secrets.c.value).where(gateway_secrets.c.name == name)).scalar_one()
        )
