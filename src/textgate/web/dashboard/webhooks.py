"""Webhooks: the account's endpoints (add, remove; the signing secret shown once), recent deliveries with
their attempts, a delivery's page and **Replay**.

Validation is the API's (:func:`textgate.service.dashboard_account.create_webhook` is what
``POST /v1/webhooks`` does), replay is :func:`textgate.webhooks.endpoints.replay_delivery`. Also here: the
helpers the Users and Reports pages share (the account a page is about, form errors, the one-time flash).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import RedirectResponse, Response
from itsdangerous import BadSignature, URLSafeTimedSerializer

from textgate.api.deps import now_of, run_db
from textgate.domain.errors import ErrorKind, NotFound, TextgateError, ValidationError
from textgate.service.accounts import get_account
from textgate.service.dashboard_account import create_webhook, delivery_detail, recent_deliveries
from textgate.web.dashboard.common import account_of, checked_form, render, router, viewer_of
from textgate.web.dashboard.session import Session, Sessions
from textgate.webhooks import endpoints
from textgate.webhooks.endpoints import STATUS_CHOICES
from textgate.webhooks.formats import format_names
from textgate.webhooks.outbox import EVENT_TYPES

FLASH = "textgate_flash"
FLASH_SECONDS = 120


# -- shared by the account pages -------------------------------------------------------------------------
def scope_of(viewer: dict[str, Any], requested: str | None) -> str | None:
    """The account a page is about; None for an operator who has not chosen one yet."""
    if viewer["kind"] == "operator" and not requested:
        return None
    return account_of(viewer, requested)


def with_account(path: str, viewer: dict[str, Any], account: str | None, **query: str) -> str:
    """``path`` with ``?account=`` for an operator (and ``query``), for links and redirects."""
    params = {k: v for k, v in query.items() if v}
    if viewer["kind"] == "operator" and account:
        params = {"account": account, **params}
    return f"{path}?{urlencode(params)}" if params else path


def form_status(exc: TextgateError) -> int:
    """A refused form's status: 404 for someone else's thing, 403 when not allowed, else 400."""
    if exc.kind == ErrorKind.NOT_FOUND:
        return 404
    if exc.kind == ErrorKind.PERMISSION_DENIED:
        return 403
    return 400


def form_error(exc: TextgateError) -> dict[str, str | None]:
    return {"field": exc.field, "message": exc.message}


def not_found(
    request: Request, sessions: Sessions, session: Session, viewer: dict[str, Any], what: str
) -> Response:
    return render(request, "notfound.html", sessions, session, viewer, status_code=404, what=what)


def _flash_signer(sessions: Sessions, session: Session) -> URLSafeTimedSerializer:
    # Keyed per session by an HMAC the page never shows: only this session can read (or forge) it.
    return URLSafeTimedSerializer(
        sessions.csrf_token(f"flash:{session.sid}"), salt="textgate-dashboard-flash"
    )


def set_flash(
    request: Request, response: Response, sessions: Sessions, session: Session, data: dict[str, Any]
) -> None:
    """Something the next page shows once (a new secret): a short-lived signed cookie."""
    response.set_cookie(
        FLASH,
        _flash_signer(sessions, session).dumps(data),
        max_age=FLASH_SECONDS,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/dashboard",
    )


def take_flash(request: Request, sessions: Sessions, session: Session, kind: str) -> dict[str, Any] | None:
    raw = request.cookies.get(FLASH)
    if not raw:
        return None
    try:
        data = _flash_signer(sessions, session).loads(raw, max_age=FLASH_SECONDS)
    except BadSignature:
        return None
    return data if isinstance(data, dict) and data.get("kind") == kind else None


def drop_flash(response: Response) -> None:
    response.delete_cookie(FLASH, path="/dashboard")


# -- pages ------------------------------------------------------------------------------------------------
DONE = {
    "added": "Endpoint added.",
    "removed": "Endpoint removed: it gets no more deliveries.",
    "replayed": "Delivery queued again: it will be sent shortly.",
}


async def _webhooks_page(
    request: Request,
    sessions: Sessions,
    session: Session,
    viewer: dict[str, Any],
    account_id: str | None,
    *,
    endpoint: str = "",
    done: str = "",
    error: dict[str, str | None] | None = None,
    form: dict[str, Any] | None = None,
    status_code: int = 200,
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
            listed, deliveries = await run_db(request, read)
        except NotFound:
            return not_found(request, sessions, session, viewer, endpoint or account_id)
    created = take_flash(request, sessions, session, "webhook") if done == "added" else None
    response = render(
        request,
        "webhooks.html",
        sessions,
        session,
        viewer,
        status_code=status_code,
        account=account_id or "",
        endpoints=listed,
        deliveries=deliveries,
        endpoint=endpoint,
        done=DONE.get(done),
        created=created,
        error=error,
        form=form or {"format": "standard", "events": [], "statuses": []},
        formats=format_names(),
        event_types=EVENT_TYPES,
        status_choices=STATUS_CHOICES,
        link=lambda path, **q: with_account(path, viewer, account_id, **q),
    )
    if created is not None:
        drop_flash(response)  # shown once
    return response


@router.get("/webhooks")
async def webhooks_page(request: Request, account: str = "", endpoint: str = "", done: str = "") -> Response:
    sessions, session, viewer = await viewer_of(request)
    account_id = scope_of(viewer, account)
    return await _webhooks_page(request, sessions, session, viewer, account_id, endpoint=endpoint, done=done)


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
    sessions, session, viewer = await viewer_of(request)
    fields = await checked_form(request, sessions, session)
    raw = await request.form()
    account_id = account_of(viewer, fields.get("account") or None)
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
        return not_found(request, sessions, session, viewer, account_id)
    except TextgateError as exc:
        return await _webhooks_page(
            request,
            sessions,
            session,
            viewer,
            account_id,
            error=form_error(exc),
            form=form,
            status_code=form_status(exc),
        )
    response = RedirectResponse(with_account("/dashboard/webhooks", viewer, account_id, done="added"), 303)
    set_flash(
        request,
        response,
        sessions,
        session,
        {"kind": "webhook", "id": made["id"], "url": made["url"], "secret": made["secret"]},
    )
    return response


@router.post("/webhooks/{endpoint_id}/remove")
async def remove_webhook(request: Request, endpoint_id: str) -> Response:
    sessions, session, viewer = await viewer_of(request)
    fields = await checked_form(request, sessions, session)
    account_id = account_of(viewer, fields.get("account") or None)
    now = now_of(request)
    try:
        await run_db(request, lambda conn: endpoints.delete_endpoint(conn, account_id, endpoint_id, now))
    except NotFound:
        return not_found(request, sessions, session, viewer, endpoint_id)
    return RedirectResponse(with_account("/dashboard/webhooks", viewer, account_id, done="removed"), 303)


async def _delivery_page(
    request: Request,
    sessions: Sessions,
    session: Session,
    viewer: dict[str, Any],
    account_id: str | None,
    delivery_id: str,
    *,
    done: str = "",
    error: dict[str, str | None] | None = None,
    status_code: int = 200,
) -> Response:
    if not account_id:
        return not_found(request, sessions, session, viewer, delivery_id)
    try:
        delivery = await run_db(request, lambda conn: delivery_detail(conn, account_id, delivery_id))
    except NotFound:
        return not_found(request, sessions, session, viewer, delivery_id)
    return render(
        request,
        "webhook_delivery.html",
        sessions,
        session,
        viewer,
        status_code=status_code,
        delivery=delivery,
        account=account_id if viewer["kind"] == "operator" else "",
        done=DONE.get(done),
        error=error,
        link=lambda path, **q: with_account(path, viewer, account_id, **q),
    )


@router.get("/webhooks/deliveries/{delivery_id}")
async def delivery_page(request: Request, delivery_id: str, account: str = "", done: str = "") -> Response:
    sessions, session, viewer = await viewer_of(request)
    account_id = scope_of(viewer, account)
    return await _delivery_page(request, sessions, session, viewer, account_id, delivery_id, done=done)


@router.post("/webhooks/deliveries/{delivery_id}/replay")
async def replay(request: Request, delivery_id: str) -> Response:
    sessions, session, viewer = await viewer_of(request)
    fields = await checked_form(request, sessions, session)
    account_id = account_of(viewer, fields.get("account") or None)
    now = now_of(request)
    try:
        await run_db(request, lambda conn: endpoints.replay_delivery(conn, account_id, delivery_id, now))
    except NotFound:
        return not_found(request, sessions, session, viewer, delivery_id)
    except TextgateError as exc:
        return await _delivery_page(
            request,
            sessions,
            session,
            viewer,
            account_id,
            delivery_id,
            error=form_error(exc),
            status_code=form_status(exc),
        )
    target = with_account(
        f"/dashboard/webhooks/deliveries/{delivery_id}", viewer, account_id, done="replayed"
    )
    return RedirectResponse(target, 303)
