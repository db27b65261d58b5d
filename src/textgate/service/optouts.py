"""Opt-outs: a recipient who texts STOP to an account's number gets no more messages from that account
until they text START. Keywords get a free reply from the number they were sent to: a confirmation
after STOP, and after a START that lifted an opt-out (a "yes" from a subscribed handset is an answer,
not a resubscription, and gets none), the account's help text after HELP (all configurable per account).

Keywords are matched on the whole message, case-insensitively, ignoring surrounding spaces and
punctuation, as carriers do (``stop``, ``STOP.``, `` Stop!`` all count; ``please stop calling`` does not).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import Connection, bindparam, delete, insert, select

from textgate.store.schema import opt_outs

STOP_WORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "OPTOUT", "REVOKE"})
START_WORDS = frozenset({"START", "UNSTOP", "YES", "SUBSCRIBE", "OPTIN"})
HELP_WORDS = frozenset({"HELP", "INFO"})
DEFAULT_HELP_TEXT = "Reply STOP to unsubscribe."
#: The confirmations carriers' compliance rules expect after STOP and START (account settings
#: ``stop_text`` / ``start_text`` replace them; an empty text sends none).
DEFAULT_STOP_TEXT = (
    "You are unsubscribed and will get no more messages from this number. Reply START to resubscribe."
)
DEFAULT_START_TEXT = "You are subscribed again. Reply STOP to unsubscribe."
#: Which setting holds each keyword's reply, and its default.
REPLY_SETTINGS = {
    "stop": ("stop_text", DEFAULT_STOP_TEXT),
    "start": ("start_text", DEFAULT_START_TEXT),
    "help": ("help_text", DEFAULT_HELP_TEXT),
}

_TRIM = re.compile(r"^[\s\W_]+|[\s\W_]+$")
_OPTED = select(opt_outs.c.number).where(
    opt_outs.c.account_id == bindparam("b_account"),
    opt_outs.c.number.in_(bindparam("b_numbers", expanding=True)),
)


def keyword_reply(settings: dict[str, object], word: str) -> str | None:
    """The reply to a keyword under an account's settings: its own text, the default, or None (empty)."""
    key, default = REPLY_SETTINGS[word]
    text = settings.get(key, default)
    return str(text) if text else None


def keyword(body: str) -> str | None:
    """``"stop"``, ``"start"``, ``"help"`` or None for an ordinary message."""
    word = _TRIM.sub("", body).upper()
    if word in STOP_WORDS:
        return "stop"
    if word in START_WORDS:
        return "start"
    if word in HELP_WORDS:
        return "help"
    return None


def opted_out(conn: Connection, account_id: str, numbers: Iterable[str]) -> set[str]:
    wanted = list(set(numbers))
    if not wanted:
        return set()
    return set(conn.execute(_OPTED, {"b_account": account_id, "b_numbers": wanted}).scalars())


def opt_out(conn: Connection, account_id: str, number: str, *, word: str, now: datetime) -> bool:
    if opted_out(conn, account_id, [number]):
        return False
    conn.execute(
        insert(opt_outs).values(account_id=account_id, number=number, keyword=word[:20], created_at=now)
    )
    return True


def opt_in(conn: Connection, account_id: str, number: str) -> bool:
    result = conn.execute(
        delete(opt_outs).where(opt_outs.c.account_id == account_id, opt_outs.c.number == number)
    )
    return bool(result.rowcount)
