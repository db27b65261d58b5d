"""Text-Connect's account actions: Report, CreateUser, UpdateCredits, ImportContactsCSV and the group
and contact deletions. The choices are in the dialect module's docstring."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi.responses import Response
from sqlalchemy import Connection

from textgate.api.deps import now_of
from textgate.domain.errors import (
    InsufficientCredits,
    NotFound,
    PermissionDenied,
    TextgateError,
    ValidationError,
)
from textgate.providers.textconnect import wire
from textgate.providers.textconnect.calls import Call, TCError, text_answer
from textgate.service import contact_import, contacts, reports, users
from textgate.service.accounts import Account

_REPORTS = {
    "outbox": "outbox",
    "messages": "messages",
    "usage": "usage",
    "inboundmessages": "inbound",
    "failedmessages": "failed",
}


async def report(call: Call) -> Response:
    kind = _REPORTS.get((call.get("ReportType") or "").strip().lower())
    if kind is None:
        raise TCError(-601)
    now = now_of(call.request)

    def _report(conn: Connection, acc: Account) -> str:
        start = end = None
        if kind != "outbox":
            zone = acc.settings.get("timezone")
            start = wire.parse_date(call.get("From"), zone)
            if start is None:
                raise TCError(-504)
            end = wire.parse_date(call.get("To"), zone)
            if end is None or end < start:
                raise TCError(-505)
        return reports.to_csv(reports.build_report(conn, acc, kind, start=start, end=end, now=now))

    return Response(await call.db(_report), media_type="text/csv; charset=utf-8")


_CREATE_USER_FIELDS = {
    "username": "ChildUsername",
    "password": "ChildPassword",
    "access_level": "AccessLevel",
    "first_name": "FirstName",
    "last_name": "LastName",
    "email": "Email",
    "telephone": "Telephone",
    "credits": "Credits",
    "credit_reminder": "Credit Reminder",
    "alert_days": "Alert",
}


def _int_param(call: Call, name: str, *, optional: bool) -> int | None:
    raw = (call.get(name) or call.get(name.replace(" ", "")) or "").strip()
    if not raw and optional:
        return None
    try:
        return int(raw)
    except ValueError as exc:
        raise TCError(-507, f"{name} must be a whole number") from exc


async def create_user(call: Call) -> Response:
    try:
        await _create_user(call)
    except TCError as exc:
        if exc.detail:
            # CreateUser always explains its errors on the lines beneath the code (ShowErrorMessage or not).
            return text_answer(wire.error_text(exc.code, False, [wire.ERRORS[exc.code], exc.detail]))
        raise
    return text_answer("1")


async def _create_user(call: Call) -> None:
    required = ["ChildUsername", "ChildPassword", "AccessLevel", "FirstName", "LastName", "Email"]
    missing = [name for name in required if not (call.get(name) or "").strip()]
    if missing:
        raise TCError(-507, "Missing: " + ", ".join(missing))
    level = (call.get("AccessLevel") or "").strip().lower()
    if level not in ("normal", "admin"):
        raise TCError(-507, "AccessLevel must be Normal or Admin")
    credits = _int_param(call, "Credits", optional=True) or 0
    reminder = _int_param(call, "Credit Reminder", optional=True)
    alert = _int_param(call, "Alert", optional=True)
    now = now_of(call.request)

    def _create(conn: Connection, acc: Account) -> None:
        try:
            users.create_user(
                conn,
                acc,
                username=(call.get("ChildUsername") or "").strip(),
                password=call.get("ChildPassword") or "",
                access_level=level,
                first_name=call.get("FirstName") or "",
                last_name=call.get("LastName") or "",
                email=(call.get("Email") or "").strip(),
                telephone=(call.get("Telephone") or "").strip() or None,
                credits=credits,
                credit_reminder=reminder,
                alert_days=alert,
                now=now,
            )
        except InsufficientCredits as exc:
            raise TCError(-100, exc.message) from exc
        except PermissionDenied as exc:
            raise TCError(-508, "Only admin users can create users") from exc
        except ValidationError as exc:
            param = _CREATE_USER_FIELDS.get(exc.field or "", exc.field or "")
            raise TCError(-507, f"{param}: {exc.message}") from exc
        except TextgateError as exc:
            raise TCError(-508, exc.message) from exc

    await call.db(_create)


async def update_credits(call: Call) -> Response:
    child = (call.get("ChildUsername") or "").strip()
    if not child:
        raise TCError(-701)
    raw = (call.get("Quantity") or "").strip()
    try:
        amount = int(raw)
    except ValueError as exc:
        raise TCError(-702) from exc
    if amount == 0:
        raise TCError(-702)
    now = now_of(call.request)

    def _transfer(conn: Connection, acc: Account) -> None:
        try:
            users.transfer_credits(conn, acc, child, amount, now=now)
        except (NotFound, PermissionDenied) as exc:
            # A Normal user has no users of its own: whoever it names is not "a user belonging to you".
            raise TCError(-509) from exc
        except InsufficientCredits as exc:
            raise TCError(-100) from exc
        except ValidationError as exc:
            raise TCError(-510 if exc.context.get("below_zero") else -702) from exc

    await call.db(_transfer)
    return text_answer("1")


def render_import(report: contact_import.ImportReport) -> str:
    """One ``N : outcome`` line per input line; then, if any failed or were partial, the reasons."""
    lines = [f"{item.line} : {item.outcome}" for item in report.lines]
    reasons = [
        f"{item.line} : {reason}"
        for item in report.lines
        if item.outcome in ("Failed", "Partial")
        for reason in item.reasons
    ]
    if reasons:
        lines += ["", "", *reasons]
    return "\n".join(lines)


async def import_contacts(call: Call) -> Response:
    text = call.get("ContactsCSV")
    if text is None or not text.strip():
        raise TCError(-507, "ContactsCSV is required")
    overwrite = call.flag("OverwriteDupes")
    ignore = call.flag("IgnoreDupes") and not overwrite
    now = now_of(call.request)

    def _import(conn: Connection, acc: Account) -> str:
        return render_import(
            contact_import.import_contacts_csv(
                conn, acc, text, ignore_dupes=ignore, overwrite_dupes=overwrite, now=now
            )
        )

    return text_answer(await call.db(_import))


async def delete_all_contacts(call: Call) -> Response:
    await call.db(contacts.delete_all_contacts)
    return text_answer("1")


async def delete_all_groups(call: Call) -> Response:
    await call.db(contacts.delete_all_groups)
    return text_answer("1")


def _group_action(fn: Callable[[Connection, Account, str], Any]) -> Callable[[Call], Awaitable[Response]]:
    async def action(call: Call) -> Response:
        name = (call.get("GroupName") or "").strip()
        if not name:
            raise TCError(-414)

        def _run(conn: Connection, acc: Account) -> None:
            group = contacts.find_group(conn, acc, name)
            if group is None:
                raise TCError(-520)
            fn(conn, acc, group.id)

        await call.db(_run)
        return text_answer("1")

    return action


empty_group_action = _group_action(contacts.empty_group)
delete_group_action = _group_action(contacts.delete_group)
