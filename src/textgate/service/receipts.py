"""Delivery reports from carriers, applied to the messages - or the parts of messages - they describe.

A receipt names a carrier id (with, for an SMSC, maybe another reading of it: :attr:`Receipt.candidates`).
It is matched, in this order, against the parts of multi-part messages (``message_parts``) and against
messages. A part's receipt updates the part, and the message's status rolls up from its parts
(:mod:`textgate.domain.parts`). A receipt nothing matches yet - it overtook its submission's answer, or
the round that got the answer is not recorded yet - is, when the caller asks for it (``keep``), stored in
``early_receipts`` and applied by :func:`apply_early` as soon as a message or part gets that id.
Final statuses never move: a late or repeated receipt is accepted and ignored.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, delete, select, update

from textgate.domain.errors import ErrorKind
from textgate.domain.message import MessageStatus
from textgate.domain.parts import PartState, rollup
from textgate.ids import new_id
from textgate.providers.base import Receipt
from textgate.service.status import change_status, change_statuses
from textgate.store.fast import fetch_dicts, insert_rows
from textgate.store.schema import early_receipts, message_events, message_parts, messages
from textgate.webhooks.outbox import EndpointCache

log = logging.getLogger(__name__)

#: How long an early receipt is kept for its message when the caller does not say.
DEFAULT_KEEP = timedelta(hours=1)


def record_receipts(
    conn: Connection,
    connector: str,
    receipts: Sequence[Receipt],
    *,
    now: datetime,
    cache: EndpointCache | None = None,
    keep: bool = False,
    keep_for: timedelta = DEFAULT_KEEP,
) -> list[str | None]:
    """Apply receipts, in order; for each, the carrier id (of its candidates) that matched a part or a
    message, or None. With ``keep`` the unmatched ones are stored for :func:`apply_early`."""
    cache = cache or EndpointCache()
    ids = list(dict.fromkeys(c for r in receipts for c in r.candidates))
    p = message_parts.c
    parts = {
        r["carrier_id"]: r
        for r in fetch_dicts(
            conn, select(message_parts).where(p.connector == connector, p.carrier_id.in_(ids))
        )
    }
    rest = [i for i in ids if i not in parts]
    rows: dict[str, dict[str, Any]] = {}
    if rest:
        query = select(messages).where(messages.c.connector == connector, messages.c.carrier_id.in_(rest))
        if conn.dialect.name == "postgresql":
            query = query.with_for_update()
        rows = {r["carrier_id"]: r for r in fetch_dicts(conn, query)}
    matched: list[str | None] = []
    for_messages: list[Receipt] = []
    for_parts: list[tuple[str, Receipt]] = []
    unmatched: list[Receipt] = []
    for receipt in receipts:
        hit = next((c for c in receipt.candidates if c in parts or c in rows), None)
        matched.append(hit)
        if hit is None:
            unmatched.append(receipt)
        elif hit in parts:
            for_parts.append((hit, receipt))
        else:
            for_messages.append(
                receipt if hit == receipt.carrier_id else dataclasses.replace(receipt, carrier_id=hit)
            )
    if for_messages:
        _apply_to_messages(conn, connector, rows, for_messages, now=now, cache=cache)
    if for_parts:
        _apply_to_parts(conn, connector, parts, for_parts, now=now, cache=cache)
    if keep and unmatched:
        keep_early(conn, connector, unmatched, now=now, keep_for=keep_for)
    return matched


def _apply_to_messages(
    conn: Connection,
    connector: str,
    rows: dict[str, dict[str, Any]],
    receipts: list[Receipt],
    *,
    now: datetime,
    cache: EndpointCache,
) -> None:
    pending = receipts
    while pending:
        # One pass applies at most one receipt per message, so each guarded update sees fresh state.
        this_pass: dict[str, Receipt] = {}
        later: list[Receipt] = []
        for receipt in pending:
            if receipt.carrier_id in this_pass:
                later.append(receipt)
            else:
                this_pass[receipt.carrier_id] = receipt
        by_status: dict[tuple[MessageStatus, Any, Any], list[Receipt]] = {}
        for receipt in this_pass.values():
            key = (receipt.status, receipt.error_kind, receipt.error_message)
            by_status.setdefault(key, []).append(receipt)
        for (status, error_kind, error_message), group in by_status.items():
            items: list[tuple[Mapping[str, Any], Mapping[str, Any] | None]] = [
                (rows[r.carrier_id], None) for r in group
            ]
            updated = change_statuses(
                conn,
                items,
                status,
                now=now,
                source=f"receipt:{connector}",
                error_kind=error_kind,
                error_message=error_message,
                details=[{"raw": r.raw} if r.raw else None for r in group],
                cache=cache,
            )
            for row in updated:
                rows[row["carrier_id"]] = row
        pending = later


# -- parts ------------------------------------------------------------------------------------------------
def _apply_to_parts(
    conn: Connection,
    connector: str,
    parts: dict[str, dict[str, Any]],
    receipts: list[tuple[str, Receipt]],
    *,
    now: datetime,
    cache: EndpointCache,
) -> None:
    p = message_parts.c
    rules: dict[str, Receipt] = {}
    events: list[dict[str, Any]] = []
    for carrier_id, receipt in receipts:
        part = parts[carrier_id]
        if not receipt.status.is_final or _part_final(part["status"]):
            continue  # en route, or a repeat: a part's final status never moves
        failed = receipt.status is not MessageStatus.DELIVERED
        values = {
            "status": receipt.status.value,
            "error_code": receipt.error_kind.value if receipt.error_kind else None,
            "error_message": receipt.error_message,
            "reported_at": now,
            "detail": {"raw": receipt.raw, "rollup": receipt.rollup},
            "decide_at": now + timedelta(seconds=receipt.rollup_wait) if failed else None,
        }
        conn.execute(
            update(message_parts)
            .where(p.message_id == part["message_id"], p.part == part["part"])
            .values(**values)
        )
        part.update(values)
        rules[part["message_id"]] = receipt
        events.append(
            {
                "message_id": part["message_id"],
                "status": receipt.status.value,
                "at": now,
                "source": f"receipt:{connector}",
                "error_code": values["error_code"],
                "detail": {"part": part["part"], "of": part["total"], "raw": receipt.raw},
            }
        )
    if events:
        insert_rows(conn, message_events, events)
    for message_id, receipt in rules.items():
        settle_parts(conn, message_id, now=now, cache=cache, rule=receipt.rollup)


def _part_final(status: str) -> bool:
    return status not in ("sent", "unknown") and MessageStatus(status).is_final


def part_states(conn: Connection, message_id: str) -> tuple[list[PartState], list[dict[str, Any]]]:
    p = message_parts.c
    rows = fetch_dicts(conn, select(message_parts).where(p.message_id == message_id).order_by(p.part))
    states = [
        PartState(
            number=r["part"],
            status=r["status"],
            error_kind=ErrorKind(r["error_code"]) if r["error_code"] else None,
            error_message=r["error_message"],
        )
        for r in rows
    ]
    return states, rows


def settle_parts(
    conn: Connection,
    message_id: str,
    *,
    now: datetime,
    cache: EndpointCache | None = None,
    rule: str | None = None,
    timed_out: bool = False,
) -> MessageStatus | None:
    """Roll a multi-part message's status up from its parts (see :mod:`textgate.domain.parts`): the
    final status it got, or None while undecided (or while the message still has parts to send)."""
    query = select(messages).where(messages.c.id == message_id)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    found = fetch_dicts(conn, query)
    if not found:
        return None
    row = found[0]
    if row["status"] not in (MessageStatus.SENT.value, MessageStatus.SENDING.value):
        return None  # final already, or parts still queued: decided once every part is sent
    states, rows = part_states(conn, message_id)
    if not rows:
        return None
    total = int(rows[0]["total"])
    if rule is None:
        rule = next((r["detail"]["rollup"] for r in rows if r["detail"] and "rollup" in r["detail"]), "all")
    if row["status"] == MessageStatus.SENDING.value and len(states) < total:
        return None
    decision = rollup(states, total, rule, timed_out=timed_out)
    if decision is None:
        return None
    changed = change_status(
        conn,
        row,
        decision.status,
        now=now,
        source="parts",
        error_kind=decision.error_kind,
        error_message=decision.error_message,
        detail={"parts": [{"part": s.number, "status": s.status} for s in states], "rule": rule},
        cache=cache,
    )
    if changed is None:
        return None
    p = message_parts.c
    conn.execute(update(message_parts).where(p.message_id == message_id).values(decide_at=None))
    return decision.status


def decide_waiting_parts(conn: Connection, *, now: datetime, limit: int = 200) -> int:
    """Messages whose failed part waited long enough for the others: decided now, as they are."""
    p = message_parts.c
    ids = list(
        dict.fromkeys(
            conn.execute(
                select(p.message_id).where(p.decide_at.is_not(None), p.decide_at <= now).limit(limit)
            ).scalars()
        )
    )
    cache = EndpointCache()
    for message_id in ids:
        if settle_parts(conn, message_id, now=now, cache=cache, timed_out=True) is None:
            # Not decidable (yet): the wait is over all the same; the next receipt decides.
            conn.execute(update(message_parts).where(p.message_id == message_id).values(decide_at=None))
    return len(ids)


# -- early receipts ---------------------------------------------------------------------------------------
def _to_json(receipt: Receipt) -> dict[str, Any]:
    return {
        "carrier_id": receipt.carrier_id,
        "alternatives": list(receipt.alternatives),
        "status": receipt.status.value,
        "error_kind": receipt.error_kind.value if receipt.error_kind else None,
        "error_message": receipt.error_message,
        "raw": receipt.raw,
        "rollup": receipt.rollup,
        "rollup_wait": receipt.rollup_wait,
    }


def _from_json(value: Mapping[str, Any]) -> Receipt:
    return Receipt(
        carrier_id=str(value["carrier_id"]),
        alternatives=tuple(value.get("alternatives") or ()),
        status=MessageStatus(value["status"]),
        error_kind=ErrorKind(value["error_kind"]) if value.get("error_kind") else None,
        error_message=value.get("error_message"),
        raw=dict(value.get("raw") or {}),
        rollup=str(value.get("rollup") or "all"),
        rollup_wait=float(value.get("rollup_wait") or 3600.0),
    )


def keep_early(
    conn: Connection, connector: str, receipts: Sequence[Receipt], *, now: datetime, keep_for: timedelta
) -> None:
    rows: list[dict[str, Any]] = []
    for receipt in receipts:
        group = new_id("erc", 16)
        value = _to_json(receipt)
        for carrier_id in dict.fromkeys(receipt.candidates):
            rows.append(
                {
                    "connector": connector,
                    "carrier_id": carrier_id,
                    "grp": group,
                    "receipt": value,
                    "handset": str(receipt.raw.get("source") or "")[:32] or None,
                    "received_at": now,
                    "expires_at": now + keep_for,
                }
            )
    insert_rows(conn, early_receipts, rows)


def apply_early(
    conn: Connection,
    connector: str,
    carrier_ids: Iterable[str],
    *,
    now: datetime,
    cache: EndpointCache | None = None,
) -> int:
    """The early receipts for these carrier ids (just recorded on messages or parts): applied, in the
    order they arrived, and forgotten. Returns how many were applied."""
    wanted = list(dict.fromkeys(carrier_ids))
    if not wanted:
        return 0
    e = early_receipts.c
    found = conn.execute(
        select(e.grp, e.receipt).where(e.connector == connector, e.carrier_id.in_(wanted)).order_by(e.id)
    ).all()
    return _apply_groups(conn, connector, found, now=now, cache=cache)


def _apply_groups(
    conn: Connection, connector: str, found: Sequence[Any], *, now: datetime, cache: EndpointCache | None
) -> int:
    if not found:
        return 0
    groups: dict[str, Receipt] = {}
    for row in found:
        groups.setdefault(row.grp, _from_json(row.receipt))
    names = list(groups)
    matched = record_receipts(conn, connector, [groups[g] for g in names], now=now, cache=cache)
    applied = [g for g, hit in zip(names, matched, strict=True) if hit is not None]
    if applied:
        conn.execute(delete(early_receipts).where(early_receipts.c.grp.in_(applied)))
    return len(applied)


def retry_early(conn: Connection, *, now: datetime, older_than: timedelta, limit: int = 500) -> int:
    """Try the early receipts again that have waited ``older_than`` (a submission recorded concurrently
    with its receipt, on PostgreSQL, can leave one behind), and forget the expired ones."""
    e = early_receipts.c
    expired = conn.execute(delete(early_receipts).where(e.expires_at <= now)).rowcount
    if expired:
        log.warning("%d receipts were dropped: no message got their carrier id in time", expired)
    found = conn.execute(
        select(e.connector, e.grp, e.receipt)
        .where(e.received_at <= now - older_than)
        .order_by(e.id)
        .limit(limit)
    ).all()
    applied = 0
    by_connector: dict[str, list[Any]] = {}
    for row in found:
        by_connector.setdefault(row.connector, []).append(row)
    cache = EndpointCache()
    for connector, rows in by_connector.items():
        applied += _apply_groups(conn, connector, rows, now=now, cache=cache)
    return applied


def record_receipt(
    conn: Connection, connector: str, receipt: Receipt, *, now: datetime, cache: EndpointCache | None = None
) -> bool:
    """Apply one receipt; whether a message or part had its carrier id (see :func:`record_receipts`)."""
    return record_receipts(conn, connector, [receipt], now=now, cache=cache)[0] is not None


# -- submissions whose answer never came --------------------------------------------------------------
def settle_from_receipts(
    conn: Connection, rows: Sequence[Mapping[str, Any]], *, now: datetime, cache: EndpointCache | None = None
) -> tuple[set[str], dict[str, dict[int, str]]]:
    """Before messages whose last submission's outcome is unknown are submitted again: look for the
    carrier's own evidence that it has them - a kept receipt about the same handset whose text is the start
    of the message (or of one of its parts), from the connector it went to. A match (one receipt for one
    message or part, never a guess between several) records the carrier id, applies the receipt and spares
    the resubmission. Returns the messages now settled whole, and the parts settled of the others."""
    from textgate.domain.encoding import split
    from textgate.service.submissions import parts_done, record_parts

    handsets = list({r["to_addr"] for r in rows})
    if not handsets:
        return set(), {}
    e = early_receipts.c
    kept = conn.execute(
        select(e.grp, e.connector, e.handset, e.receipt).where(e.handset.in_(handsets)).order_by(e.id)
    ).all()
    if not kept:
        return set(), {}
    by_handset: dict[str, dict[str, Any]] = {}
    for k in kept:
        by_handset.setdefault(k.handset, {}).setdefault(k.grp, k)
    cache = cache or EndpointCache()
    settled: set[str] = set()
    parts_settled: dict[str, dict[int, str]] = {}
    used: set[str] = set()
    done = parts_done(conn, [r["id"] for r in rows if r["segments"] > 1])
    for row in rows:
        groups = [
            g
            for g in by_handset.get(row["to_addr"], {}).values()
            if g.grp not in used and (row["connector"] is None or g.connector == row["connector"])
        ]
        texts = split(row["body"]) if row["segments"] > 1 else [row["body"]]
        have = done.get(row["id"], {})
        wanted = [n for n in range(1, len(texts) + 1) if n not in have]
        found: dict[int, Any] = {}
        copies: set[str] = (
            set()
        )  # the same receipt kept more than once (an SMSC re-sends what it never saw answered)
        for number in wanted:
            hits = [g for g in groups if _starts(texts[number - 1], g.receipt)]
            if len({g.receipt.get("carrier_id") for g in hits}) == 1:
                found[number] = hits[0]
                copies |= {g.grp for g in hits}
        if not found or len({g.grp for g in found.values()}) != len(found):
            continue
        if _others_match(conn, row, list(found.values())):
            continue  # another message in doubt to that handset reads the same: no guessing
        connector = next(iter(found.values())).connector
        if any(g.connector != connector for g in found.values()):
            continue
        receipts = {n: _from_json(g.receipt) for n, g in found.items()}
        used |= copies
        detail = {"settled_by_receipt": {str(n): r.carrier_id for n, r in receipts.items()}}
        if len(texts) > 1:
            accepted = {n: r.carrier_id for n, r in receipts.items()}
            record_parts(conn, row["id"], total=len(texts), connector=connector, accepted=accepted, now=now)
            parts_settled[row["id"]] = accepted
            if len(have) + len(accepted) < len(texts):
                record_receipts(conn, connector, list(receipts.values()), now=now, cache=cache)
                continue
            carrier_id = have.get(1) or accepted[1]
        else:
            carrier_id = receipts[1].carrier_id
        change_status(
            conn,
            row,
            MessageStatus.SENT,
            now=now,
            source=f"receipt:{connector}",
            detail=detail,
            extra={"carrier_id": carrier_id, "connector": connector, "due_at": None, "lease_owner": None},
            cache=cache,
        )
        settled.add(row["id"])
        record_receipts(conn, connector, list(receipts.values()), now=now, cache=cache)
        if len(texts) > 1:
            settle_parts(conn, row["id"], now=now, cache=cache)
    if used:
        conn.execute(delete(early_receipts).where(e.grp.in_(list(used))))
    return settled, parts_settled


def _others_match(conn: Connection, row: Mapping[str, Any], receipts: list[Any]) -> bool:
    """Whether another message whose submission is in doubt, to the same handset, would match too."""
    from textgate.domain.encoding import split

    m = messages.c
    others = conn.execute(
        select(m.body, m.segments).where(
            m.account_id == row["account_id"],
            m.to_addr == row["to_addr"],
            m.status == MessageStatus.SENDING.value,
            m.id != row["id"],
        )
    ).all()
    for other in others:
        texts = split(other.body) if other.segments > 1 else [other.body]
        if any(_starts(t, g.receipt) for t in texts for g in receipts):
            return True
    return False


def _starts(text: str, receipt: Mapping[str, Any]) -> bool:
    """Whether a receipt's ``text:`` is the start of ``text``. SMSCs write it in their default alphabet
    even for a UCS-2 message, so besides the text itself the receipt's bytes (as they came) are compared
    with two renderings of the message: each character cut to its low byte (what writing UCS-2 text as
    Latin-1 leaves), and its UTF-16 bytes."""
    shown = str((receipt.get("raw") or {}).get("message_text") or "")
    if len(shown) < 5:
        return False
    if text.startswith(shown):
        return True
    raw = _as_received(shown)
    if raw is None:
        return False
    low = bytes(ord(c) & 0xFF for c in text[: len(raw)])
    return low.startswith(raw) or text.encode("utf-16-be").startswith(raw[: len(raw) // 2 * 2])


def _as_received(shown: str) -> bytes | None:
    """The bytes the SMSC sent for a receipt text (decoded as GSM-7, or as Latin-1 when not GSM-7)."""
    from textgate.domain.encoding import encode_gsm7

    try:
        return encode_gsm7(shown)
    except (ValueError, KeyError):
        try:
            return shown.encode("latin-1")
        except UnicodeEncodeError:
            return None
