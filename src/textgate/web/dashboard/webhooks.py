"""Webhooks: the account's endpoints (add, remove; the signing secret shown once), recent deliveries with
their attempts, a delivery's page and **Replay**.

Validation is the API's (:func:`textgate.service.dashboard_account.create_webhook` is what
``POST /v1/webhooks`` does), replay is :func:`textgate.webhooks.endpoints.replay_delivery`.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import RedirectResponse, Response

from textgate.api.deps import now_of, run_db
from textgate.domain.errors import NotFound, TextgateError, ValidationError
from textgate.service.accounts import get_account
from textgate.service.dashboard_account import create_webhook, delivery_detail, recent_deliveries
from textgate.web.dashboard.common import (
    Page,
    account_of,
    page_of,
    router,
    scope_of,
)
from textgate.web.dashboard.forms import form_error, form_status, redirect_with_flash, render_with_flash
from textgate.webhooks import endpoints
from textgate.webhooks.endpoints import STATUS_CHOICES
from textgate.webhooks.formats import format_names
from textgate.webhooks.outbox import EVENT_TYPES

DONE = {
    "added": "Endpoint added.",
    "removed": "Endpoint removed: it gets no more deliveries.",
    "replayed": "Delivery queued again: it will be sent shortly.",
}


async def _webhooks_page(
    page: Page,
    account_id: str | None,
    *,
    endpoint: str = "",
    done: str = "",
    refused: TextgateError | None = None,
    form: dict[str, Any] | None = None,
) -> Response:
    listed: list[dict[str, Any]] = []
    deliveries: list[dict[str, Any]] = []
    if account_id:

        def read(conn: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
            get_account(conn, account_id)  # an operator's unknown account id is 404
            return endpoints.list_endpoints(conn, account_id), recent_deliveries(
                conn, account_id, endpoint_id=endpoint or None
            )

        try:
            listed, deliveries = await run_db(page.request, read)
        except NotFound:
            return page.not_found(endpoint or account_id)
    return render_with_flash(
        page,
        "webhooks.html",
        flash="webhook" if done == "added" else None,
        status_code=form_status(refused) if refused else 200,
        account=account_id or "",
        endpoints=listed,
        deliveries=deliveries,
        endpoint=endpoint,
        done=DONE.get(done),
        error=form_error(refused) if refused else None,
        form=form or {"format": "standard", "events": [], "statuses": []},
        formats=format_names(),
        event_types=EVENT_TYPES,
        status_choices=STATUS_CHOICES,
        link=lambda path, **q: page.link(path, account_id, **q),
    )


@router.get("/webhooks")
async def webhooks_page(request: Request, account: str = "", endpoint: str = "", done: str = "") -> Response:
    page = await page_of(request)
    account_id = scope_of(page.viewer, account)
    return await _webhooks_page(page, account_id, endpoint=endpoint, done=done)


def _options(text: str) -> dict[str, str] | None:
    """``key=value`` lines (the format's options) as a dict; None when there are none."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        key, sep, value = line.partition("=")
        if not sep or not key.strip():
            raise ValidationError(
                f"options: write each option as key=value, not {line[:40]!r}", field="options"
            )
        out[key.strip()] = value.strip()
    return out or None


@router.post("/webhooks")
async def add_webhook(request: Request) -> Response:
    page = await page_of(request)
    fields = await page.form()
    raw = await request.form()
    account_id = account_of(page.viewer, fields.get("account") or None)
    events = [e for e in raw.getlist("events") if isinstance(e, str)]
    statuses = [s for s in raw.getlist("statuses") if isinstance(s, str)]
    url = fields.get("url", "").strip()
    fmt = fields.get("format", "standard") or "standard"
    number = fields.get("number", "").strip()
    options_text = fields.get("options", "")
    form: dict[str, Any] = {
        "url": url,
        "format": fmt,
        "number": number,
        "options": options_text,
        "events": events,
        "statuses": statuses,
    }
    now = now_of(request)
    allow_private = request.app.state.settings.allow_private_urls
    try:
        options = _options(options_text)

        def create(conn: Any) -> dict[str, Any]:
            return create_webhook(
                conn,
                get_account(conn, account_id),
                url=url,
                events=events or None,
                format=fmt,
                number=number or None,
                statuses=statuses or None,
                options=options,
                now=now,
                allow_private=allow_private,
            )

        made = await run_db(request, create)
    except NotFound:
        return page.not_found(account_id)
    except TextgateError as exc:
        return await _webhooks_page(page, account_id, refused=exc, form=form)
    return redirect_with_flash(
        page,
        page.link("/dashboard/webhooks", account_id, done="added"),
        {"kind": "webhook", "id": made["id"], "url": made["url"], "secret": made["secret"]},
    )


@router.post("/webhooks/{endpoint_id}/remove")
async def remove_webhook(request: Request, endpoint_id: str) -> Response:
    page = await page_of(request)
    fields = await page.form()
    account_id = account_of(page.viewer, fields.get("account") or None)
    now = now_of(request)
    try:
        await run_db(request, lambda conn: endpoints.delete_endpoint(conn, account_id, endpoint_id, now))
    except NotFound:
        return page.not_found(endpoint_id)
    return RedirectResponse(page.link("/dashboard/webhooks", account_id, done="removed"), 303)


async def _delivery_page(
    page: Page,
    account_id: str | None,
    delivery_id: str,
    *,
    done: str = "",
    refused: TextgateError | None = None,
) -> Response:
    if not account_id:
        return page.not_found(delivery_id)
    try:
        delivery = await run_db(page.request, lambda conn: delivery_detail(conn, account_id, delivery_id))
    except NotFound:
        return page.not_found(delivery_id)
    return page.render(
        "webhook_delivery.html",
        status_code=form_status(refused) if refused else 200,
        delivery=delivery,
        account=account_id if page.viewer["kind"] == "operator" else "",
        done=DONE.get(done),
        error=form_error(refused) if refused else None,
        link=lambda path, **q: page.link(path, account_id, **q),
    )


@router.get("/webhooks/deliveries/{delivery_id}")
async def delivery_page(request: Request, delivery_id: str, account: str = "", done: str = "") -> Response:
    page = await page_of(request)
    account_id = scope_of(page.viewer, account)
    return await _delivery_page(page, account_id, delivery_id, done=done)


@router.post("/webhooks/deliveries/{delivery_id}/replay")
async def replay(request: Request, delivery_id: str) -> Response:
    page = await page_of(request)
    fields = await page.form()
    account_id = account_of(page.viewer, fields.get("account") or None)
    now = now_of(request)
    try:
        await run_db(request, lambda conn: endpoints.replay_delivery(conn, account_id, delivery_id, now))
    except NotFound:
        return page.not_found(delivery_id)
    except TextgateError as exc:
        return await _delivery_page(page, account_id, delivery_id, refused=exc)
    target = page.link(f"/dashboard/webhooks/deliveries/{delivery_id}", account_id, done="replayed")
    return RedirectResponse(target, 303)
