"""What the dashboard's API keys, Numbers and Settings pages read and change, for one account.

Every function takes the caller's ``Connection`` (one transaction) and an ``account_id``: a key or a number
of another account is :class:`NotFound`, exactly like one that does not exist. Creating keys, checking
endpoint options and changing the account reuse the functions the API and the CLI call
(``service.accounts``, ``webhooks.endpoints``, ``webhooks.formats``), so the dashboard validates the same way.

Inbound forwarding of a number is a webhook endpoint limited to that number for ``message.received``
(docs/dialects/textconnect.md, "Inbound message HTTP forwarding"); the Manage page edits the oldest such
endpoint in place (its id, secret and delivery history stay).
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import Connection, select, update

from textgate.domain.clock import isoformat
from textgate.domain.errors import NotFound, ValidationError
from textgate.domain.phone import normalize_number, parse_sender
from textgate.net import guard_url
from textgate.providers.bestsms import settings as bestsms
from textgate.service.accounts import (
    KEY_OPTIONS,
    Account,
    get_account,
    hash_secret,
    set_number_status,
    update_account,
    zone_of,
)
from textgate.service.links import base_url as links_base_url
from textgate.service.links import tracks_links
from textgate.service.lists import find_list, list_lists
from textgate.service.optouts import (
    EXTRA_WORD_SETTINGS,
    HELP_WORDS,
    REPLY_SETTINGS,
    START_WORDS,
    STOP_WORDS,
    check_extra_words,
)
from textgate.store.schema import api_keys, numbers, webhook_endpoints
from textgate.webhooks.endpoints import create_endpoint, delete_endpoint
from textgate.webhooks.formats import check_format_events, check_options, format_names, renderer

# -- API keys -----------------------------------------------------------------------------------------


def list_keys(conn: Connection, account_id: str) -> list[dict[str, Any]]:
    """The account's API keys, active ones first, newest first within each (no secrets: only digests are
    stored). textgate does not record when a key was last used."""
    k = api_keys.c
    rows = conn.execute(
        select(k.id, k.name, k.created_at, k.revoked_at, k.options)
        .where(k.account_id == account_id)
        .order_by(k.revoked_at.is_not(None), k.created_at.desc(), k.id)
    ).all()
    return [
        {
            "id": r.id,
            "name": r.name,
            "created_at": isoformat(r.created_at),
            "revoked_at": isoformat(r.revoked_at) if r.revoked_at is not None else None,
            "status": "revoked" if r.revoked_at is not None else "active",
            "options": {
                name: (r.options or {}).get(name, allowed[0]) for name, allowed in KEY_OPTIONS.items()
            },
        }
        for r in rows
    ]


def get_key(conn: Connection, account_id: str, key_id: str) -> dict[str, Any]:
    for key in list_keys(conn, account_id):
        if key["id"] == key_id:
            return key
    raise NotFound(f"API key {key_id!r} not found", field="key_id")


def revoke_account_key(conn: Connection, account_id: str, key_id: str, *, now: datetime) -> None:
    """Revoke one of the account's active keys at once (requests with it are refused, 401)."""
    result = conn.execute(
        update(api_keys)
        .where(api_keys.c.id == key_id, api_keys.c.account_id == account_id, api_keys.c.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    if result.rowcount == 0:
        raise NotFound(f"active API key {key_id!r} not found", field="key_id")


def key_secret_matches(conn: Connection, account_id: str, key_id: str, secret: str) -> bool:
    """Whether ``secret`` is the secret of the account's active key ``key_id`` (to show a new key's secret
    once, from a short-lived cookie, without storing it)."""
    digest = conn.execute(
        select(api_keys.c.secret_hash).where(
            api_keys.c.id == key_id, api_keys.c.account_id == account_id, api_keys.c.revoked_at.is_(None)
        )
    ).scalar_one_or_none()
    return digest is not None and hmac.compare_digest(digest, hash_secret(secret))


# -- numbers and their inbound forwarding -------------------------------------------------------------

#: Formats a number's inbound messages may be forwarded in (those registered), Text-Connect's first.
FORWARD_FORMATS = ("textconnect", "standard", "textbetter_v2", "textbetter_v1")
FORWARD_EVENT = "message.received"
FORWARD_METHODS = ("GET", "POST")


def forward_formats() -> list[str]:
    known = set(format_names())
    return [f for f in FORWARD_FORMATS if f in known]


def _forward_endpoints(conn: Connection, account_id: str) -> list[Any]:
    e = webhook_endpoints.c
    rows = conn.execute(
        select(webhook_endpoints)
        .where(e.account_id == account_id, e.deleted_at.is_(None), e.number.is_not(None))
        .order_by(e.created_at, e.id)
    ).all()
    return [r for r in rows if FORWARD_EVENT in (r.events or ()) and r.format in FORWARD_FORMATS]


def _forward_view(row: Any | None, others: int) -> dict[str, Any]:
    options = dict(row.options or {}) if row is not None else {}
    return {
        "endpoint_id": row.id if row is not None else None,
        "url": row.url if row is not None else "",
        "format": row.format if row is not None else FORWARD_FORMATS[0],
        "method": str(options.get("method") or "GET").upper(),
        "auth": str(options.get("auth") or ""),
        "mailmerge_list": str(options.get("mailmerge_list") or ""),
        "others": others,
    }


def list_numbers(conn: Connection, account_id: str) -> list[dict[str, Any]]:
    """The account's numbers by number, each with its status and where its inbound messages go."""
    rows = conn.execute(
        select(numbers).where(numbers.c.account_id == account_id).order_by(numbers.c.number)
    ).all()
    forwards: dict[str, str] = {}
    for ep in _forward_endpoints(conn, account_id):
        forwards.setdefault(ep.number, ep.url)
    return [
        {
            "number": r.number,
            "status": r.status,
            "created_at": isoformat(r.created_at),
            "forward_url": forwards.get(r.number),
        }
        for r in rows
    ]


def _owned(conn: Connection, account: Account, number: str) -> Any:
    try:
        e164 = normalize_number(number, region=account.region, field="number")
    except ValidationError as exc:
        raise NotFound(f"number {number!r} not found", field="number") from exc
    row = conn.execute(
        select(numbers).where(numbers.c.number == e164, numbers.c.account_id == account.id)
    ).first()
    if row is None:
        raise NotFound(f"number {e164} is not a number of this account", field="number")
    return row


def number_view(conn: Connection, account_id: str, number: str) -> dict[str, Any]:
    """One of the account's numbers, its forwarding (the first endpoint that forwards it; ``others``: how
    many more do) and the account's distribution lists (for supplemental data)."""
    account = get_account(conn, account_id)
    row = _owned(conn, account, number)
    mine = [ep for ep in _forward_endpoints(conn, account_id) if ep.number == row.number]
    return {
        "number": row.number,
        "status": row.status,
        "created_at": isoformat(row.created_at),
        "forwarding": _forward_view(mine[0] if mine else None, max(0, len(mine) - 1)),
        "lists": [lst.name for lst in list_lists(conn, account)],
        "formats": forward_formats(),
    }


def set_number_forwarding(
    conn: Connection,
    account_id: str,
    number: str,
    *,
    url: str,
    format: str = "textconnect",
    method: str = "GET",
    auth: str = "",
    mailmerge_list: str = "",
    now: datetime,
    allow_private: bool,
) -> dict[str, Any]:
    """Forward the number's inbound messages to ``url``: its existing forwarding is changed in place, else
    an endpoint is created. Checked like ``POST /v1/webhooks`` (the URL by the private-address guard,
    options by the format); a ValidationError names the form field (``url``, ``method``, ``auth``,
    ``mailmerge_list``, ``format``)."""
    account = get_account(conn, account_id)
    row = _owned(conn, account, number)
    url = url.strip()
    if not url:
        raise ValidationError("url: give the address to forward messages to", field="url")
    if url.startswith("mailto:"):
        raise ValidationError("url: forwarding goes to an http(s) address", field="url")
    checked_url = guard_url(url, allow_private=allow_private, field="url")
    if format not in forward_formats() or renderer(format) is None:
        raise ValidationError(
            f"format must be one of {', '.join(forward_formats())}, not {format!r}", field="format"
        )
    wanted: dict[str, Any] = {}
    if method.strip().upper() not in FORWARD_METHODS:
        raise ValidationError("method must be GET or POST", field="method")
    if method.strip().upper() != "GET" or format == "textconnect":
        wanted["method"] = method
    if auth:
        wanted["auth"] = auth
    if mailmerge_list:
        if find_list(conn, account, mailmerge_list) is None:
            raise ValidationError(
                f"mailmerge_list: this account has no distribution list named {mailmerge_list!r}",
                field="mailmerge_list",
            )
        wanted["mailmerge_list"] = mailmerge_list
    try:
        options = check_options(format, wanted)
    except ValidationError as exc:
        field = (exc.field or "options").removeprefix("options.")
        raise ValidationError(exc.message, field=field) from exc
    check_format_events(format, [FORWARD_EVENT])
    mine = [ep for ep in _forward_endpoints(conn, account_id) if ep.number == row.number]
    if not mine:
        create_endpoint(
            conn,
            account_id,
            checked_url,
            [FORWARD_EVENT],
            now=now,
            allow_private=allow_private,
            format=format,
            number=row.number,
            options=options,
        )
    else:
        events = list(mine[0].events)
        try:  # other events it was given stay, unless the new format cannot carry them
            check_format_events(format, events)
        except ValidationError:
            events = [FORWARD_EVENT]
        conn.execute(
            update(webhook_endpoints)
            .where(webhook_endpoints.c.id == mine[0].id, webhook_endpoints.c.account_id == account_id)
            .values(url=checked_url, format=format, options=options or None, events=events)
        )
    forwarding: dict[str, Any] = number_view(conn, account_id, row.number)["forwarding"]
    return forwarding


def stop_number_forwarding(conn: Connection, account_id: str, number: str, *, now: datetime) -> bool:
    """Stop forwarding the number's inbound messages (every endpoint that forwards them is deleted, as
    ``DELETE /v1/webhooks/{id}`` does). False when nothing forwarded them."""
    account = get_account(conn, account_id)
    row = _owned(conn, account, number)
    mine = [ep for ep in _forward_endpoints(conn, account_id) if ep.number == row.number]
    for ep in mine:
        delete_endpoint(conn, account_id, ep.id, now)
    return bool(mine)


def change_number_status(conn: Connection, account_id: str, number: str, status: str) -> None:
    """Make a number active or inactive (as ``textgate numbers set-status``)."""
    account = get_account(conn, account_id)
    row = _owned(conn, account, number)
    set_number_status(conn, account, row.number, status)


# -- account settings ---------------------------------------------------------------------------------

#: Settings the account itself may change from the dashboard: (name, kind, label).
ACCOUNT_FIELDS: tuple[tuple[str, str, str], ...] = (
    ("region", "region", "Region (for national numbers)"),
    ("timezone", "timezone", "Time zone"),
    ("stop_text", "reply", "Reply to STOP"),
    ("start_text", "reply", "Reply to START"),
    ("help_text", "reply", "Reply to HELP"),
    ("stop_words", "keywords", "Extra STOP keywords"),
    ("start_words", "keywords", "Extra START keywords"),
    ("help_words", "keywords", "Extra HELP keywords"),
    (bestsms.MAX_PARTS, "parts", "BestSMS part limit"),
    (bestsms.REPLY_WINDOW_HOURS, "hours", "BestSMS reply window (hours)"),
    (bestsms.FROM, "sender", "BestSMS default sender"),
    ("link_tracking", "flag", "Tracked links: send links as short links that record clicks"),
)
#: Settings only an operator may change.
OPERATOR_FIELDS: tuple[tuple[str, str, str], ...] = (
    ("price_sms_part", "price", "Credits per SMS part"),
    ("price_mms", "price", "Credits per MMS"),
    (bestsms.PRICE_PER_CREDIT, "decimal", "BestSMS price per credit"),
    ("owned_senders_only", "flag", "Only the account's numbers as senders (no alphanumeric sender IDs)"),
    ("unregistered_senders", "flag", "Allow numeric senders no account has registered"),
    ("strict_numbers", "flag", "Strict number checks"),
    ("require_mobile", "flag", "Send to mobile numbers only"),
    ("allowed_destination_prefixes", "prefixes", "Allowed destination prefixes"),
    ("blocked_prefixes", "prefixes", "Blocked destination prefixes"),
    ("daily_limit_per_number", "limit", "Daily limit per number"),
    ("status", "status", "Account status"),
)
FIELD_LABELS = {name: label for name, _, label in ACCOUNT_FIELDS + OPERATOR_FIELDS}
MAX_REPLY_LENGTH = 1600
MAX_PARTS_LIMIT = 255
_COLUMNS = {"region", "price_sms_part", "price_mms", "owned_senders_only", "status"}


def settings_view(conn: Connection, account_id: str) -> dict[str, Any]:
    """The account's settings as the form shows them: text values, with defaults where none is set."""
    account = get_account(conn, account_id)
    s = account.settings
    values: dict[str, Any] = {
        "region": account.region,
        "timezone": str(s.get("timezone") or ""),
        bestsms.MAX_PARTS: str(bestsms.max_parts(s)),
        bestsms.REPLY_WINDOW_HOURS: _number_text(bestsms.reply_window(s).total_seconds() / 3600),
        bestsms.FROM: str(s.get(bestsms.FROM) or ""),
        "price_sms_part": str(account.prices.sms_part),
        "price_mms": str(account.prices.mms),
        bestsms.PRICE_PER_CREDIT: str(bestsms.price_per_credit(s)),
        "owned_senders_only": account.owned_senders_only,
        "unregistered_senders": bool(s.get("unregistered_senders")),
        "strict_numbers": bool(s.get("strict_numbers")),
        "require_mobile": bool(s.get("require_mobile")),
        "allowed_destination_prefixes": ", ".join(map(str, s.get("allowed_destination_prefixes") or ())),
        "blocked_prefixes": ", ".join(map(str, s.get("blocked_prefixes") or ())),
        "daily_limit_per_number": str(s.get("daily_limit_per_number") or ""),
        "status": account.status,
        "link_tracking": tracks_links(s),
    }
    for key in EXTRA_WORD_SETTINGS.values():
        values[key] = ", ".join(map(str, s.get(key) or ()))
    for word, (key, default) in REPLY_SETTINGS.items():
        values[key] = str(s.get(key, default) or "")
        values[f"{word}_default"] = default
    return {
        "account_id": account.id,
        "name": account.name,
        "values": values,
        "short_link_base": links_base_url(),
        "keywords": {
            "stop": sorted(STOP_WORDS),
            "start": sorted(START_WORDS),
            "help": sorted(HELP_WORDS),
        },
    }


def _number_text(value: float) -> str:
    return str(int(value)) if value == int(value) else str(value)


def change_settings(conn: Connection, account_id: str, form: Mapping[str, str], *, operator: bool) -> Account:
    """Apply a settings form: the account's own fields, and with ``operator`` the operator's too (an
    account's form cannot change those). All checked before anything is written; a ValidationError names
    the field. Checkboxes missing from an operator's form are off."""
    account = get_account(conn, account_id)
    columns: dict[str, Any] = {}
    settings: dict[str, Any] = {}
    fields = ACCOUNT_FIELDS + (OPERATOR_FIELDS if operator else ())
    for name, kind, _label in fields:
        if kind != "flag" and name not in form:
            continue
        raw = form.get(name, "")
        value = _parse(kind, name, raw, account)
        if name in _COLUMNS:
            if value is not None:
                columns[name] = value
        elif kind == "reply":
            default = dict(REPLY_SETTINGS.values())[name]
            settings[name] = None if raw.replace("\r\n", "\n") == default else value
        else:
            settings[name] = value
    return update_account(conn, account_id, settings=settings or None, **columns)


def _parse(kind: str, name: str, raw: str, account: Account) -> Any:
    text = raw.strip()
    if kind == "flag":
        return True if text in ("on", "true", "1", "yes") else (False if name in _COLUMNS else None)
    if kind == "region":
        if not text:
            raise ValidationError("region: give a country code, e.g. US or GB", field=name)
        return text
    if kind == "timezone":
        if text:
            zone_of(text)  # the check update_account makes, before anything is written
        return text or None
    if kind == "reply":
        value = raw.replace("\r\n", "\n")
        if len(value) > MAX_REPLY_LENGTH:
            raise ValidationError(
                f"{name}: at most {MAX_REPLY_LENGTH} characters, not {len(value)}", field=name
            )
        return value.strip()
    if kind == "parts":
        number = _integer(text, name)
        if number is None or not 1 <= number <= MAX_PARTS_LIMIT:
            raise ValidationError(f"{name} must be a whole number from 1 to {MAX_PARTS_LIMIT}", field=name)
        return None if number == bestsms.DEFAULT_MAX_PARTS else number
    if kind == "hours":
        hours = _decimal(text, name)
        if hours is None or not 0 < hours <= 24 * 366:
            raise ValidationError(f"{name} must be a number of hours above 0, at most {24 * 366}", field=name)
        default = Decimal(int(bestsms.DEFAULT_REPLY_WINDOW.total_seconds() // 3600))
        return None if hours == default else _json_number(hours)
    if kind == "sender":
        return parse_sender(text, region=account.region, field=name).value if text else None
    if kind == "price":
        number = _integer(text, name)
        if number is None or number < 0:
            raise ValidationError(f"{name} must be a whole number of credits, 0 or more", field=name)
        return number
    if kind == "decimal":
        price = _decimal(text, name)
        if price is None or price < 0:
            raise ValidationError(f"{name} must be a number, 0 or more", field=name)
        return None if price == 1 else str(price)
    if kind == "keywords":
        mine = next(k for k, key in EXTRA_WORD_SETTINGS.items() if key == name)
        others = {k: list(account.settings.get(key) or ()) for k, key in EXTRA_WORD_SETTINGS.items()}
        try:
            return check_extra_words(mine, text, others)
        except ValueError as exc:
            raise ValidationError(f"{name}: {exc}", field=name) from None
    if kind == "prefixes":
        prefixes = [p for p in text.replace(",", " ").split() if p]
        for p in prefixes:
            if not (p.startswith("+") and p[1:].isdigit() and 1 < len(p) <= 16):
                raise ValidationError(f"{name}: {p!r} is not a prefix like +44", field=name)
        return prefixes or None
    if kind == "limit":
        if not text:
            return None
        number = _integer(text, name)
        if number is None or number < 1:
            raise ValidationError(f"{name} must be a whole number, 1 or more (empty: no limit)", field=name)
        return number
    if kind == "status":
        if text not in ("active", "suspended"):
            raise ValidationError("status must be active or suspended", field=name)
        return text
    raise AssertionError(kind)


def _integer(text: str, name: str) -> int | None:
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        raise ValidationError(f"{name} must be a whole number, not {text!r}", field=name) from None


def _decimal(text: str, name: str) -> Decimal | None:
    if not text:
        return None
    try:
        number = Decimal(text)
    except InvalidOperation:
        raise ValidationError(f"{name} must be a number, not {text!r}", field=name) from None
    return number if number.is_finite() else None


def _json_number(value: Decimal) -> int | float:
    return int(value) if value == value.to_integral_value() else float(value)
