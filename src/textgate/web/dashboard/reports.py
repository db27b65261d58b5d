"""Reports: the five Text-Connect report types (Outbox, Messages, FailedMessages, InboundMessages, Usage)
over a date range, shown as a table and downloadable as CSV.

The rows are :func:`textgate.service.reports.build_report`'s — the same columns as Text-Connect's Report
and ``GET /v1/reports/{type}``, with the same guard against spreadsheet formulas — and the range is read
as the API reads it (:func:`textgate.api.reports.report_range`: dates in the account's time zone, a date
alone as ``to`` meaning the end of that day, 30 days up to now by default). The download is named as the
API names it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fastapi import Depends, Query, Request
from fastapi.responses import Response

from textgate.api.deps import now_of, run_db
from textgate.api.reports import filename, report_range
from textgate.domain.errors import NotFound, TextgateError, ValidationError
from textgate.service.accounts import Account, get_account
from textgate.service.dashboard_account import PREVIEW_ROWS, report_csv, report_preview
from textgate.service.reports import REPORT_TYPES
from textgate.web.dashboard.common import Page, page_of, router, scope_of
from textgate.web.dashboard.forms import form_error, form_status

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


@dataclass(frozen=True, slots=True)
class Asked:
    """The report a page or a download asks for, as its query string says."""

    account: str
    kind: str
    start: str
    end: str

    @property
    def params(self) -> dict[str, str]:
        return {"type": self.kind, "from": self.start, "to": self.end}


def _asked(
    account: str = "",
    type: str = "",
    start: str = Query("", alias="from", max_length=40),
    end: str = Query("", alias="to", max_length=40),
) -> Asked:
    return Asked(account, type.strip().lower(), start, end)


@router.get("/reports")
async def reports_page(request: Request, asked: Asked = Depends(_asked)) -> Response:
    page = await page_of(request)
    account_id = scope_of(page.viewer, asked.account)
    kind, start, end = asked.kind, asked.start, asked.end
    now = now_of(request)
    header: list[str] = []
    rows: list[list[str]] = []
    more = False
    refused: TextgateError | None = None
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
            return page.not_found(account_id)
        except TextgateError as exc:
            refused = exc
    download = page.link("/dashboard/reports/download", account_id, **asked.params) if header else None
    return _reports(
        page,
        account_id or "",
        asked.params,
        refused=refused,
        header=header,
        rows=rows,
        more=more,
        shown_range=shown_range,
        download=download,
    )


def _reports(
    page: Page,
    account_id: str,
    params: dict[str, str],
    *,
    refused: TextgateError | None = None,
    header: list[str] | None = None,
    rows: list[list[str]] | None = None,
    more: bool = False,
    shown_range: tuple[datetime, datetime | None] | None = None,
    download: str | None = None,
) -> Response:
    return page.render(
        "reports.html",
        status_code=form_status(refused) if refused else 200,
        account=account_id,
        titles=TITLES,
        params=params,
        header=header or [],
        rows=rows or [],
        more=more,
        preview_rows=PREVIEW_ROWS,
        shown_range=shown_range,
        download=download,
        error=form_error(refused) if refused else None,
    )


@router.get("/reports/download")
async def report_download(request: Request, asked: Asked = Depends(_asked)) -> Response:
    page = await page_of(request)
    account_id = scope_of(page.viewer, asked.account)
    if not account_id:
        return page.not_found("report")
    kind, start, end = asked.kind, asked.start, asked.end
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
        return page.not_found(account_id)
    except TextgateError as exc:
        return _reports(page, account_id, asked.params, refused=exc)
    return Response(
        content,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"},
    )
