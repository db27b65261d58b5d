"""Numbers: active/inactive, and per number the inbound forwarding (Text-Connect's Manage page).

``/dashboard/numbers/{number}`` takes the number in E.164 with its ``+`` URL-encoded (``%2B15551230001``).
Forwarding is a webhook endpoint limited to the number (service/dashboard_admin.py): URL (checked by the
private-address guard, as ``POST /v1/webhooks``), format, and for Text-Connect's format the method, the
``auth`` value passed through and a distribution list whose data is added for known senders.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import RedirectResponse, Response

from textgate.api.deps import now_of, run_db
from textgate.domain.errors import NotFound, TextgateError
from textgate.service.dashboard_admin import (
    FORWARD_METHODS,
    change_number_status,
    list_numbers,
    number_view,
    set_number_forwarding,
    stop_number_forwarding,
)
from textgate.web.dashboard.common import (
    Page,
    account_exists,
    chosen_account,
    page_of,
    posted_for_account,
    router,
)
from textgate.web.dashboard.forms import field_error

FORWARD_LABELS = {
    "url": "Forwarding URL",
    "format": "Format",
    "method": "Method",
    "auth": "auth value",
    "mailmerge_list": "Supplemental data list",
    "status": "Status",
    "number": "Number",
    "events": "Format",
}


def number_path(number: str) -> str:
    return f"/dashboard/numbers/{quote(number, safe='')}"


@router.get("/numbers")
async def numbers_page(request: Request, account: str = "") -> Response:
    page = await page_of(request)
    account_id = chosen_account(page.viewer, account)
    if account_id is not None and not await account_exists(request, account_id):
        return page.not_found(f"account {account_id}")
    rows = await run_db(request, lambda conn: list_numbers(conn, account_id)) if account_id else []
    for row in rows:
        row["href"] = page.link(number_path(row["number"]), account_id)
    return page.render("numbers.html", account=account_id or "", numbers=rows)


async def _number(
    page: Page,
    account_id: str,
    number: str,
    *,
    done: str = "",
    refused: TextgateError | None = None,
    form: dict[str, str] | None = None,
) -> Response:
    error, error_field = field_error(refused, FORWARD_LABELS) if refused else (None, None)
    try:
        view = await run_db(page.request, lambda conn: number_view(conn, account_id, number))
    except NotFound:
        return page.not_found(f"number {number}")
    forwarding = dict(view["forwarding"])
    if form is not None:  # what was typed, shown again with the error
        for key in ("url", "format", "method", "auth", "mailmerge_list"):
            forwarding[key] = form.get(key, "")
    return page.render(
        "number.html",
        status_code=400 if refused else 200,
        account=account_id if page.viewer["kind"] == "operator" else "",
        number=view,
        forwarding=forwarding,
        methods=FORWARD_METHODS,
        action=number_path(view["number"]),
        back=page.link("/dashboard/numbers", account_id),
        done=done,
        error=error,
        error_field=error_field,
    )


@router.get("/numbers/{number}")
async def number_page(request: Request, number: str, account: str = "", done: str = "") -> Response:
    page = await page_of(request)
    account_id = chosen_account(page.viewer, account)
    if account_id is None:
        return page.not_found(f"number {number}")
    return await _number(page, account_id, number, done=done)


@router.post("/numbers/{number}/forwarding")
async def save_forwarding(request: Request, number: str) -> Response:
    page, form, account_id = await posted_for_account(request)
    if account_id is None:
        return page.not_found(f"number {number}")
    now = now_of(request)
    allow_private = bool(request.app.state.settings.allow_private_urls)

    def save(conn: Any) -> dict[str, Any]:
        return set_number_forwarding(
            conn,
            account_id,
            number,
            url=form.get("url", ""),
            format=form.get("format", "textconnect"),
            method=form.get("method", "GET"),
            auth=form.get("auth", ""),
            mailmerge_list=form.get("mailmerge_list", ""),
            now=now,
            allow_private=allow_private,
        )

    try:
        await run_db(request, save)
    except NotFound:
        return page.not_found(f"number {number}")
    except TextgateError as exc:
        return await _number(page, account_id, number, refused=exc, form=form)
    return RedirectResponse(page.link(number_path(number), account_id, done="saved"), status_code=303)


@router.post("/numbers/{number}/forwarding/stop")
async def stop_forwarding(request: Request, number: str) -> Response:
    page, _, account_id = await posted_for_account(request)
    if account_id is None:
        return page.not_found(f"number {number}")
    now = now_of(request)
    try:
        await run_db(request, lambda conn: stop_number_forwarding(conn, account_id, number, now=now))
    except NotFound:
        return page.not_found(f"number {number}")
    return RedirectResponse(page.link(number_path(number), account_id, done="stopped"), status_code=303)


@router.post("/numbers/{number}/status")
async def number_status(request: Request, number: str) -> Response:
    """An operator makes the number active or inactive (as ``textgate numbers set-status``)."""
    page, form, account_id = await posted_for_account(request)
    if page.viewer["kind"] != "operator":
        return Response(
            "only an operator may change a number's status", status_code=403, media_type="text/plain"
        )
    if account_id is None:
        return page.not_found(f"number {number}")
    status = form.get("status", "")
    try:
        await run_db(request, lambda conn: change_number_status(conn, account_id, number, status))
    except NotFound:
        return page.not_found(f"number {number}")
    except TextgateError as exc:
        return await _number(page, account_id, number, refused=exc)
    return RedirectResponse(page.link(number_path(number), account_id, done="status"), status_code=303)
