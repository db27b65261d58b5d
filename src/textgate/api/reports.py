"""``/v1/reports/{type}``: an account's message and usage reports as CSV downloads.

Design choices:

* ``from``/``to`` accept RFC 3339 (``2026-03-01T00:00:00Z``; without an offset it is read in the account's
  time zone), a date ``YYYY-MM-DD`` or Text-Connect's ``YYYYMMDDHHMMSS``, both read in the account's zone.
  A date alone as ``to`` means the end of that day, so ``from=2026-03-01&to=2026-03-31`` is all of March.
  Without ``to`` the range runs up to now (inclusive); without ``from`` it starts 30 days before its end.
* Every problem with the type or the range is a 422 naming ``type``, ``from`` or ``to``, like any other
  malformed query.
* The CSV is built inside the request's transaction (the report's rows stream from the database and must
  be read before it ends) and sent as one body with ``Content-Disposition: attachment``.
* :func:`report_range` is shared with ``textgate reports`` so the CLI reads dates the same way.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from sqlalchemy import Connection

from textgate.api.deps import CurrentAccount, now_of, run_db
from textgate.domain.errors import ValidationError
from textgate.service.accounts import Account
from textgate.service.reports import REPORT_TYPES, build_report, to_csv

router = APIRouter(prefix="/v1/reports", tags=["reports"])

DEFAULT_DAYS = 30
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_COMPACT = re.compile(r"\d{14}")


def parse_time(value: str, field: str, account: Account) -> tuple[datetime, bool]:
    """``value`` as an aware datetime, and whether it was a date alone. Raises ValidationError(field)."""
    text = value.strip()
    try:
        if _COMPACT.fullmatch(text):
            parsed, date_only = datetime.strptime(text, "%Y%m%d%H%M%S"), False
        elif _DATE.fullmatch(text):
            parsed, date_only = datetime.strptime(text, "%Y-%m-%d"), True
        elif "T" in text.upper() or " " in text:
            parsed, date_only = datetime.fromisoformat(text), False
        else:
            raise ValueError(text)
        if not 1900 <= parsed.year <= 9000:  # keeps the arithmetic below clear of datetime's limits
            raise ValueError(text)
    except ValueError as exc:
        raise ValidationError(
            f"{field} {value[:40]!r} is not a date: use RFC 3339, YYYY-MM-DD or YYYYMMDDHHMMSS", field=field
        ) from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=account.zone)
    return parsed, date_only


def report_range(
    account: Account, start: str | None, end: str | None, *, now: datetime
) -> tuple[datetime, datetime | None]:
    """The ``[from, to)`` range a report request names (see the module docstring); ``to`` is None when
    not given, so messages created at this very instant are included."""
    hi = None
    if end:
        hi, date_only = parse_time(end, "to", account)
        if date_only:
            hi += timedelta(days=1)
    lo = parse_time(start, "from", account)[0] if start else (hi or now) - timedelta(days=DEFAULT_DAYS)
    if hi is not None and hi <= lo:
        raise ValidationError("to must be after from", field="to")
    if hi is None and lo > now:
        raise ValidationError("from must not be in the future", field="from")
    return lo, hi


def filename(report_type: str, lo: datetime, hi: datetime | None, *, now: datetime, account: Account) -> str:
    # The last day the range covers, as a person would name it (a given end is exclusive).
    last = hi - timedelta(microseconds=1) if hi is not None else now
    zone = account.zone
    return f"{report_type}-{lo.astimezone(zone):%Y-%m-%d}-{last.astimezone(zone):%Y-%m-%d}.csv"


def _as_422(exc: ValidationError) -> RequestValidationError:
    kind = "path" if exc.field == "type" else "query"
    return RequestValidationError([{"type": "value_error", "loc": (kind, exc.field), "msg": exc.message}])


@router.get(
    "/{report_type}",
    summary="A CSV report of messages or usage",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}, "description": "The report, as an attachment."}},
)
async def get_report(
    request: Request,
    account: CurrentAccount,
    report_type: str = Path(description=f"One of {', '.join(REPORT_TYPES)}.", examples=["messages"]),
    from_: str | None = Query(None, alias="from", max_length=40, examples=["2026-03-01"]),
    to: str | None = Query(None, max_length=40, examples=["2026-03-31"]),
) -> Response:
    now = now_of(request)
    kind = report_type.strip().lower()
    try:
        if kind not in REPORT_TYPES:
            raise ValidationError(
                f"report type {report_type[:40]!r} is not one of {', '.join(REPORT_TYPES)}", field="type"
            )
        lo, hi = report_range(account, from_, to, now=now)
    except ValidationError as exc:
        raise _as_422(exc) from exc

    def _build(conn: Connection) -> str:
        return to_csv(build_report(conn, account, kind, start=lo, end=hi, now=now))

    content = await run_db(request, _build)
    name = filename(kind, lo, hi, now=now, account=account)
    return Response(
        content,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
