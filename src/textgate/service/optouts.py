"""Opt-outs: a recipient who texts STOP to an account's number gets no more messages from that account
until they text START. Keywords get a free reply from the number they were sent to: a confirmation
after STOP, and after a START that lifted an opt-out (a "yes" from a subscribed handset is an answer,
not a resubscription, and gets none), the account's help text after HELP (all configurable per account).

Keywords are matched on the whole message, case-insensitively, ignoring surrounding spaces and
punctuation, as carriers do (``stop``, ``STOP.``, `` Stop!`` all count; ``please stop calling`` does not).
An account may add its own keywords (settings ``stop_words``, ``start_words``, ``help_words``: lists of
words) to the standard ones, which always work: carriers require them.
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

#: The account setting holding each keyword's extra words.
EXTRA_WORD_SETTINGS = {"stop": "stop_words", "start": "start_words", "help": "help_words"}
STANDARD_WORDS = {"stop": STOP_WORDS, "start": START_WORDS, "help": HELP_WORDS}
_WORD = re.compile(r"^[A-Z0-9]{2,20}$")

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


def keyword(body: str, settings: dict[str, object] | None = None) -> str | None:
    """``"stop"``, ``"start"``, ``"help"`` or None for an ordinary message; ``settings``: the account's,
    for its own extra keywords."""
    word = _TRIM.sub("", body).upper()
    if len(word) > 20:
        return None
    for kind, standard in STANDARD_WORDS.items():
        if word in standard:
            return kind
    for kind, key in EXTRA_WORD_SETTINGS.items():
        extra = (settings or {}).get(key)
        if isinstance(extra, list) and word in extra:
            return kind
    return None


def one_word(body: str) -> bool:
    """Whether ``body`` could be an account's own keyword (one word of letters and digits)."""
    return bool(_WORD.match(_TRIM.sub("", body).upper()))


def check_extra_words(kind: str, text: str, others: dict[str, list[str]]) -> list[str] | None:
    """An account's extra keywords for ``kind`` from ``text`` (separated by commas or spaces), upper case;
    None when empty. ``others``: the other kinds' extra words (a word means one thing). Raises ValueError
    naming the problem."""
    words: list[str] = []
    for raw in text.replace(",", " ").split():
        word = raw.upper()
        if not _WORD.match(word):
            raise ValueError(f"{raw!r} is not a keyword: 2 to 20 letters or digits")
        taken = [k for k, std in STANDARD_WORDS.items() if word in std and k != kind]
        taken += [k for k, extra in others.items() if word in extra and k != kind]
        if taken:
            raise ValueError(f"{word} is already a {taken[0].upper()} keyword")
        if word not in words and word not in STANDARD_WORDS[kind]:
            words.append(word)
    if len(words) > 20:
        raise ValueError("at most 20 extra keywords")
    return words or None


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
