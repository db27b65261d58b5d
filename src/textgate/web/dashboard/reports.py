"""Reports: the five Text-Connect report types (Outbox, Messages, FailedMessages, InboundMessages, Usage)
over a date range, shown as a table and downloadable as CSV.

The rows are :func:`textgate.service.reports.build_report`'s — the same columns as Text-Connect's Report
and ``GET /v1/reports/{type}``, with the same guard against spreadsheet formulas — and the range is read
as the API reads it (:func:`textgate.api.reports.report_range`: dates in the account's time zone, a date
alone as ``to`` meaning the end of that day, 30 days up to now by default). The download is named as the
API names it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import Query, Request
from fastapi.responses import Response

from textgate.api.deps import now_of, run_db
from textgate.api.reports import filename, report_range
from textgate.domain.errors import NotFound, TextgateError, ValidationError
from textgate.service.accounts import Account, get_account
from textgate.service.dashboard_account import PREVIEW_ROWS, report_csv, report_preview
from textgate.service.reports import REPORT_TYPES
from textgate.web.dashboard.common import render, router, viewer_of
from textgate.web.dashboard.webhooks import form_error, form_status, not_found, scope_of, with_account

#: The report types as Text-Connect names them, with what each holds.
TITLES = {
    "outbox": ("Outbox", "outbound messages not yet final (the dates are ignored)"),
    "messages": ("Messages", "outbound messages created in the range"),
    "failed": ("FailedMessages", "outbound messages created in the range that did not arrive"),
    "inbound": ("InboundMessages", "messages received in the range"),
    "usage": ("Usage", "messages, parts and credits per account: yours, then your users'"),
}


def _range(
    account: Account, kind: str, start: str, end: str, now: datetime
) -> tuple[datetime | None, datetime | None, datetime, datetime | None]:
    """(start, end) for the report and (lo, hi) for its file name."""
    if kind not in REPORT_TYPES:
        raise ValidationError(
            f"report type {kind[:40]!r} is not one of {', '.join(REPORT_TYPES)}", field="type"
        )
    lo, hi = report_range(account, start or None, end or None, now=now)
    if kind == "outbox":
        return None, None, lo, hi
    return lo, hi, lo, hi


@router.get("/reports")
async def reports_page(
    request: Request,
    account: str = "",
    type: str = "",
    start: str = Query("", alias="from", max_length=40),
    end: str = Query("", alias="to", max_length=40),
) -> Response:
    sessions, session, viewer = await viewer_of(request)
    account_id = scope_of(viewer, account)
    kind = type.strip().lower()
    now = now_of(request)
    params = {"type": kind, "from": start, "to": end}
    header: list[str] = []
    rows: list[list[str]] = []
    more = False
    error = None
    status = 200
    shown_range = None
    if account_id and kind:

        def read(conn: Any) -> tuple[list[str], list[list[str]], bool, tuple[datetime, datetime | None]]:
            acc = get_account(conn, account_id)
            lo, hi, name_lo, name_hi = _range(acc, kind, start, end, now)
            head, found, more = report_preview(conn, acc, kind, start=lo, end=hi, now=now)
            return (
                head,
                found,
                more,
                (name_lo.astimezone(acc.zone), name_hi.astimezone(acc.zone) if name_hi else None),
            )

        try:
            header, rows, more, shown_range = await run_db(request, read)
        except NotFound:
            return not_found(request, sessions, session, viewer, account_id)
        except TextgateError as exc:
            error = form_error(exc)
            status = form_status(exc)
    download = with_account("/dashboard/reports/download", viewer, account_id, **params) if header else None
    return render(
        request,
        "reports.html",
        sessions,
        session,
        viewer,
        status_code=status,
        account=account_id or "",
        titles=TITLES,
        params=params,
        header=header,
        rows=rows,
        more=more,
        preview_rows=PREVIEW_ROWS,
        shown_range=shown_range,
        download=download,
        error=error,
    )


@router.get("/reports/download")
async def report_download(
    request: Request,
    account: str = "",
    type: str = "",
    start: str = Query("", alias="from", max_length=40),
    end: str = Query("", alias="to", max_length=40),
) -> Response:
    sessions, session, viewer = await viewer_of(request)
    account_id = scope_of(viewer, account)
    if not account_id:
        return not_found(request, sessions, session, viewer, "report")
    kind = type.strip().lower()
    now = now_of(request)

    def build(conn: Any) -> tuple[str, str]:
        acc = get_account(conn, account_id)
        lo, hi, name_lo, name_hi = _range(acc, kind, start, end, now)
        return report_csv(conn, acc, kind, start=lo, end=hi, now=now), filename(
            kind, name_lo, name_hi, now=now, account=acc
        )

    try:
        content, name = await run_db(request, build)
    except NotFound:
        return not_found(request, sessions, session, viewer, account_id)
    except TextgateError as exc:
        return render(
            request,
            "reports.html",
            sessions,
            session,
            viewer,
            status_code=form_status(exc),
            account=account_id,
            titles=TITLES,
            params={"type": kind, "from": start, "to": end},
            header=[],
            rows=[],
            more=False,
            preview_rows=PREVIEW_ROWS,
            shown_range=None,
            download=None,
            error=form_error(exc),
        )
    return Response(
        content,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"},
    )
