"""Per-recipient refusals: what an account's own rules say about one destination before anything is sent.

A refused recipient does not fail the whole request: its message is stored as ``failed`` (never charged,
never dispatched), with the reason as its error, so every API can show what happened to every number.
In order of precedence:

=============================  ==============================  ==========================================
rule                           error kind                      set by
=============================  ==============================  ==========================================
opted out (texted STOP)        ``opted_out``                   the recipient (see :mod:`.optouts`)
on the account's blocklist     ``destination_blocked``         ``textgate blocklist add`` / ``/v1/blocklist``
blocked prefix                 ``destination_blocked``         setting ``blocked_prefixes``
not a mobile number            ``invalid_destination``         setting ``require_mobile``
daily limit per number         ``rate_limited``                setting ``daily_limit_per_number``
=============================  ==============================  ==========================================

The daily limit counts the account's outbound messages to that number since midnight in the account's
time zone (messages refused at acceptance do not count; earlier recipients of the same request do).
System messages (keyword replies) are exempt from every rule.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime, time

from sqlalchemy import Connection, and_, bindparam, delete, func, insert, literal, or_, select, union_all

from textgate.domain.errors import DEFAULT_MESSAGES, ErrorKind, NotFound, ValidationError
from textgate.domain.message import Direction, MessageStatus
from textgate.domain.phone import is_mobile, normalize_number
from textgate.service.accounts import Account
from textgate.store.schema import blocked_numbers, messages, opt_outs

Refusal = tuple[ErrorKind, str]

_BLOCKED = select(blocked_numbers.c.number).where(
    blocked_numbers.c.account_id == bindparam("b_account"),
    blocked_numbers.c.number.in_(bindparam("b_numbers", expanding=True)),
)
_STOPPED_OR_BLOCKED = union_all(
    select(opt_outs.c.number, literal("stop").label("kind")).where(
        opt_outs.c.account_id == bindparam("b_account"),
        opt_outs.c.number.in_(bindparam("b_numbers", expanding=True)),
    ),
    select(blocked_numbers.c.number, literal("block").label("kind")).where(
        blocked_numbers.c.account_id == bindparam("b_account"),
        blocked_numbers.c.number.in_(bindparam("b_numbers", expanding=True)),
    ),
)
_SENT_TODAY = (
    select(messages.c.to_addr, func.count())
    .where(
        messages.c.account_id == bindparam("b_account"),
        messages.c.to_addr.in_(bindparam("b_numbers", expanding=True)),
        messages.c.created_at >= bindparam("b_since"),
        messages.c.direction == Direction.OUTBOUND.value,
        # Refused at acceptance = failed without a single attempt: those were never sent.
        or_(messages.c.status != MessageStatus.FAILED.value, messages.c.attempts > 0),
    )
    .group_by(messages.c.to_addr)
)


def start_of_day(account: Account, now: datetime) -> datetime:
    local = now.astimezone(account.zone)
    return datetime.combine(local.date(), time(0), tzinfo=account.zone)


def daily_limit(account: Account) -> int | None:
    raw = account.settings.get("daily_limit_per_number")
    if raw in (None, "", 0):
        return None
    try:
        return max(1, int(raw))
    except (TypeError, ValueError):
        return None


def refusals(
    conn: Connection, account: Account, recipients: Sequence[str], *, now: datetime, system: bool = False
) -> list[Refusal | None]:
    """One entry per recipient, in order: None to send, else why not."""
    if system:
        return [None] * len(recipients)
    wanted = list(set(recipients))
    stopped: set[str] = set()
    blocked: set[str] = set()
    for i in range(0, len(wanted), 500):  # one statement for both lists (it runs on every send)
        lists = {"b_account": account.id, "b_numbers": wanted[i : i + 500]}
        for number, kind in conn.execute(_STOPPED_OR_BLOCKED, lists):
            (stopped if kind == "stop" else blocked).add(number)
    prefixes = tuple(account.settings.get("blocked_prefixes") or ())
    allowed = tuple(account.settings.get("allowed_destination_prefixes") or ())
    require_mobile = bool(account.settings.get("require_mobile"))
    limit = daily_limit(account)
    counts: Counter[str] = Counter()
    if limit is not None:
        since = start_of_day(account, now)
        for i in range(0, len(wanted), 500):
            params = {"b_account": account.id, "b_numbers": wanted[i : i + 500], "b_since": since}
            counts.update({to: int(n) for to, n in conn.execute(_SENT_TODAY, params)})
    out: list[Refusal | None] = []
    for to in recipients:
        refusal: Refusal | None = None
        if to in stopped:
            refusal = (ErrorKind.OPTED_OUT, DEFAULT_MESSAGES[ErrorKind.OPTED_OUT])
        elif to in blocked:
            refusal = (
                ErrorKind.DESTINATION_BLOCKED,
                "The destination number is on this account's blocklist.",
            )
        elif prefixes and to.startswith(prefixes):
            refusal = (ErrorKind.DESTINATION_BLOCKED, DEFAULT_MESSAGES[ErrorKind.DESTINATION_BLOCKED])
        elif allowed and not to.startswith(allowed):
            refusal = (
                ErrorKind.GEOGRAPHIC_RESTRICTION,
                f"{to} is outside this account's allowed destination prefixes",
            )
        elif require_mobile and is_mobile(to) is False:
            refusal = (ErrorKind.INVALID_DESTINATION, "The destination is not a mobile number.")
        elif limit is not None and counts[to] >= limit:
            refusal = (
                ErrorKind.RATE_LIMITED,
                f"The daily limit of {limit} messages to this number has been reached.",
            )
        if refusal is None and limit is not None:
            counts[to] += 1
        out.append(refusal)
    return out


# -- the blocklist ------------------------------------------------------------------------------------


def block_number(
    conn: Connection, account: Account, number: str, *, now: datetime, note: str | None = None
) -> str:
    e164 = normalize_number(number, region=account.region, field="number")
    if note is not None and len(note) > 200:
        raise ValidationError("note is longer than 200 characters", field="note")
    exists = conn.execute(_BLOCKED, {"b_account": account.id, "b_numbers": [e164]}).first()
    if exists is None:
        conn.execute(
            insert(blocked_numbers).values(account_id=account.id, number=e164, note=note, created_at=now)
        )
    return e164


def unblock_number(conn: Connection, account: Account, number: str) -> str:
    e164 = normalize_number(number, region=account.region, field="number")
    result = conn.execute(
        delete(blocked_numbers).where(
            and_(blocked_numbers.c.account_id == account.id, blocked_numbers.c.number == e164)
        )
    )
    if result.rowcount == 0:
        raise NotFound(f"{e164} is not on this account's blocklist", field="number")
    return e164


def blocklist(conn: Connection, account: Account) -> list[dict[str, object]]:
    rows = conn.execute(
        select(blocked_numbers.c.number, blocked_numbers.c.note, blocked_numbers.c.created_at)
        .where(blocked_numbers.c.account_id == account.id)
        .order_by(blocked_numbers.c.number)
    ).all()
    return [{"number": r.number, "note": r.note, "created_at": r.created_at} for r in rows]
