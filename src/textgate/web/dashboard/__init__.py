"""The web dashboard at ``/dashboard``: server-rendered pages (Jinja2), enhanced with htmx and charts
drawn by uPlot, both shipped in ``static/vendor`` with their licences (nothing from a CDN).

Accounts sign in with their username and password (``textgate accounts create NAME --username U
--password-stdin``, ``textgate accounts set-login``, or Text-Connect's ``CreateUser``) and see only their
own data. Operators (``textgate operators create``) see every account. Pages read and act through
service functions only (service/dashboard.py, service/messages.py, ...). Sessions, CSRF and the sign-in
throttle: session.py.
"""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

import httpx
from fastapi import Depends, FastAPI, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles

from textgate.api.deps import now_of, run_db
from textgate.api.errors import STATUS_BY_KIND
from textgate.domain.errors import AuthenticationError, NotFound, TextgateError, ValidationError
from textgate.domain.message import Direction, MessageStatus
from textgate.domain.phone import parse_sender
from textgate.service import signin_throttle
from textgate.service.accounts import get_account
from textgate.service.dashboard import overview, resend
from textgate.service.dashboard_messages import (
    EXPORT_BATCH,
    EXPORT_COLUMNS,
    EXPORT_MAX,
    SEARCH_SCAN,
    MessageFilter,
    MessagePage,
    export_row,
    message_thread,
    search_messages,
    text_words,
)
from textgate.service.dashboard_ops import connector_health, health_from_healthz
from textgate.service.messages import content_disposition, get_message, message_events_view
from textgate.service.operators import verify_operator
from textgate.service.users import verify_password
from textgate.web.dashboard.common import (
    HERE,
    PAGE_HEADERS,
    CsrfRefused,
    SignedOut,
    account_of,
    checked_form,
    not_found,
    render,
    router,
    sessions_of,
    templates,
    viewer_of,
    with_account,
)
from textgate.web.dashboard.session import Session, Sessions


# -- sign-in ------------------------------------------------------------------------------------------
@router.get("/login")
async def login_form(request: Request) -> Response:
    sessions = await sessions_of(request)
    if sessions.read(request) is not None:
        return RedirectResponse("/dashboard", status_code=303)
    return _login_page(request, sessions, error=None)


def _login_page(
    request: Request, sessions: Sessions, *, error: str | None, status_code: int = 200
) -> Response:
    pre = sessions.pre_session(request)
    response = templates.TemplateResponse(
        request,
        "login.html",
        {"viewer": None, "csrf": sessions.csrf_token(pre), "error": error},
        status_code=status_code,
        headers=PAGE_HEADERS,
    )
    sessions.write_pre_session(request, response, pre)
    return response


@router.post("/login")
async def login(
    request: Request,
    username: str = Form(default="", max_length=200),
    password: str = Form(default="", max_length=1024),
    csrf: str = Form(default="", max_length=200),
    operator: str = Form(default=""),
) -> Response:
    sessions = await sessions_of(request)
    pre = request.cookies.get("textgate_signin")
    if not pre or not sessions.csrf_ok(pre, csrf):
        return _login_page(
            request, sessions, error="The form expired: please sign in again.", status_code=403
        )
    client = request.client.host if request.client else "?"
    user_key = f"user:{username.lower()}"
    keys = (user_key, f"ip:{client}")
    at = now_of(request).timestamp()
    wait = await run_db(request, lambda conn: signin_throttle.wait(conn, keys, now=at))
    if wait is not None:
        return _login_page(
            request,
            sessions,
            error=f"Too many failed sign-ins: try again in {int(wait) + 1} s.",
            status_code=429,
        )

    def check(conn: Any) -> Session:
        if operator:
            return Sessions.new("operator", verify_operator(conn, username, password))
        return Sessions.new("account", verify_password(conn, username, password).id)

    try:
        session = await run_db(request, check)
    except AuthenticationError as exc:
        await run_db(request, lambda conn: signin_throttle.failed(conn, keys, now=at))
        message = (
            "This account is suspended." if exc.context.get("suspended") else "Wrong username or password."
        )
        return _login_page(request, sessions, error=message, status_code=401)
    await run_db(request, lambda conn: signin_throttle.succeeded(conn, [user_key]))
    response = RedirectResponse("/dashboard", status_code=303)
    sessions.write(request, response, session)
    response.delete_cookie("textgate_signin", path="/dashboard")
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    sessions, session, _ = await viewer_of(request)
    await checked_form(request, sessions, session)
    response = RedirectResponse("/dashboard/login", status_code=303)
    Sessions.clear(response)
    return response


# -- pages --------------------------------------------------------------------------------------------
@router.get("")
async def overview_page(request: Request, days: int = 1, account: str | None = None) -> Response:
    sessions, session, viewer = await viewer_of(request)
    days = 7 if days == 7 else 1
    account_id = account if viewer["kind"] == "operator" else viewer["account_id"]
    now = now_of(request)
    figures = None
    if account_id:
        figures = await run_db(request, lambda conn: overview(conn, account_id, now=now, days=days))
    # Operators see the connectors' live health (the running gateway's own state, as /healthz shows it).
    health = connector_health(request.app.state.gateway) if viewer["kind"] == "operator" else None
    if health is not None and not health["running"]:
        health = await _parent_health(request) or health
    # htmx asks for the figures alone, every few seconds.
    template = "overview_figures.html" if request.headers.get("hx-request") else "overview.html"
    return render(
        request,
        template,
        sessions,
        session,
        viewer,
        figures=figures,
        days=days,
        account=account_id,
        health=health,
    )


def _message_filters(
    direction: str = "",
    status: str = "",
    number: str = "",
    created_after: str = "",
    created_before: str = "",
    text: str = "",
    account: str = "",
) -> dict[str, str]:
    """The message list's filter, from the query string."""
    return {
        "direction": direction,
        "status": status,
        "number": number,
        "text": text,
        "created_after": created_after,
        "created_before": created_before,
        "account": account,
    }


@router.get("/messages")
async def messages_page(
    request: Request, cursor: str = "", filters: dict[str, str] = Depends(_message_filters)
) -> Response:
    sessions, session, viewer = await viewer_of(request)
    error = None
    error_field = None
    result = MessagePage([], None)
    try:
        account_id, build = _message_filter(viewer, filters)

        def page(conn: Any) -> MessagePage:
            return search_messages(conn, account_id, build(conn), limit=50, cursor=cursor or None)

        result = await run_db(request, page)
    except TextgateError as exc:
        error, error_field = exc.message, exc.field
    query = {k: v for k, v in filters.items() if v}
    next_url = None
    if result.next_cursor:
        next_url = "/dashboard/messages?" + urlencode({**query, "cursor": result.next_cursor})
    context: dict[str, Any] = {
        "rows": result.rows,
        "filters": filters,
        "next_url": next_url,
        "scan_limited": result.scan_limited,
        "search_scan": SEARCH_SCAN,
        "error": error,
        "error_field": error_field,
        "statuses": [s.value for s in MessageStatus],
        # The first page follows new messages; an older page stays as it is.
        "poll_url": None if error or cursor else "/dashboard/messages?" + urlencode(query),
        "csv_url": "/dashboard/messages.csv?" + urlencode(query),
        "export_max": EXPORT_MAX,
    }
    if request.headers.get("hx-request") and not error:
        return _fragment(request, "messages.html", "rows", sessions, session, viewer, **context)
    return render(
        request,
        "messages.html",
        sessions,
        session,
        viewer,
        status_code=400 if error else 200,
        **context,
    )


def _message_filter(
    viewer: dict[str, Any], filters: dict[str, str]
) -> tuple[str, Callable[[Any], MessageFilter]]:
    """The account a message list is about and how to build its filter in a transaction (numbers are
    read in the account's region); raises ValidationError naming the field."""
    account_id = account_of(viewer, filters["account"] or None)
    direction, status, number = filters["direction"], filters["status"], filters["number"]
    if direction and direction not in {d.value for d in Direction}:
        raise ValidationError("direction must be inbound or outbound", field="direction")
    if status and status not in {s.value for s in MessageStatus}:
        raise ValidationError(f"unknown status {status!r}", field="status")
    after = _date(filters["created_after"], "created_after")
    before = _date(filters["created_before"], "created_before")
    peer = parse_sender(number, field="number").value if number else None
    words = text_words(filters["text"])

    def build(conn: Any) -> MessageFilter:
        region = get_account(conn, account_id).region
        wanted = parse_sender(number, region=region, field="number").value if number else peer
        outbound = direction != Direction.INBOUND.value
        return MessageFilter(
            direction=direction or None,
            status=status or None,
            to_addr=wanted if outbound and direction else None,
            from_addr=wanted if not outbound else None,
            created_after=after,
            created_before=before,
            words=words,
        )

    return account_id, build


def _fragment(
    request: Request,
    template: str,
    block: str,
    sessions: Sessions,
    session: Session,
    viewer: dict[str, Any],
    **context: Any,
) -> Response:
    """One block of a page, for htmx to swap in (the polled list body, a message's live part)."""
    page = templates.get_template(template)
    values = {"request": request, "viewer": viewer, "csrf": sessions.csrf_token(session.sid), **context}
    html = "".join(page.blocks[block](page.new_context(values)))
    response = HTMLResponse(html, headers=PAGE_HEADERS)
    sessions.write(request, response, session)
    return response


@router.get("/messages.csv")
async def messages_csv(request: Request, filters: dict[str, str] = Depends(_message_filters)) -> Response:
    """The messages of the current filter as CSV, newest first, at most EXPORT_MAX rows, streamed a
    batch (one short transaction) at a time."""
    _, _, viewer = await viewer_of(request)
    try:
        account_id, build = _message_filter(viewer, filters)
        wanted = await run_db(request, build)
    except TextgateError:  # the page shows what is wrong, with 400
        return await messages_page(request, filters=filters)

    def batch(cursor: str | None, limit: int) -> Callable[[Any], MessagePage]:
        return lambda conn: search_messages(
            conn, account_id, wanted, limit=limit, cursor=cursor, threads=False
        )

    async def body() -> AsyncIterator[bytes]:
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(EXPORT_COLUMNS)
        cursor: str | None = None
        sent = 0
        while sent < EXPORT_MAX:
            page = await run_db(request, batch(cursor, min(EXPORT_BATCH, EXPORT_MAX - sent)))
            for view in page.rows:
                writer.writerow(export_row(view))
            sent += len(page.rows)
            yield out.getvalue().encode()
            out.seek(0)
            out.truncate()
            if page.next_cursor is None:
                return
            cursor = page.next_cursor
        yield out.getvalue().encode()

    stamp = now_of(request).strftime("%Y%m%d-%H%M%S")
    headers = {
        "Content-Disposition": content_disposition(f"messages-{stamp}.csv"),
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": "no-store",
    }
    return StreamingResponse(body(), media_type="text/csv; charset=utf-8", headers=headers)


async def _parent_health(request: Request) -> dict[str, Any] | None:
    """In an API process (``TEXTGATE_API_PROCESSES``): the health of the ``serve`` process that runs the
    connectors, from its ``/healthz``; None when this is not such a process or it does not answer."""
    parent = getattr(request.app.state, "forward", None)
    gateway = request.app.state.gateway
    if parent is None or gateway is None:
        return None
    try:
        answer = await gateway.http.get(f"{parent}/healthz", timeout=2.0)
        return health_from_healthz(answer.json())
    except (httpx.HTTPError, ValueError):
        return None


def _date(value: str, field: str) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValidationError(
            f"{field} must be a date (YYYY-MM-DD) or a date and time", field=field
        ) from None
    if parsed.tzinfo is None:
        from datetime import UTC

        parsed = parsed.replace(tzinfo=UTC)
    return parsed


@router.get("/messages/{message_id}")
async def message_page(request: Request, message_id: str, account: str = "", done: str = "") -> Response:
    sessions, session, viewer = await viewer_of(request)
    account_id = account_of(viewer, account or None) if viewer["kind"] == "account" or account else None
    if account_id is None:
        return not_found(request, sessions, session, viewer, message_id)
    try:
        thread = await run_db(request, lambda conn: message_thread(conn, account_id, message_id))
    except NotFound:
        return not_found(request, sessions, session, viewer, message_id)
    context: dict[str, Any] = {
        **thread,
        "account": account if viewer["kind"] == "operator" else "",
        "done": done,
        "error": None,
    }
    if request.headers.get("hx-request"):
        return _fragment(request, "message.html", "live", sessions, session, viewer, **context)
    return render(request, "message.html", sessions, session, viewer, **context)


@router.post("/messages/{message_id}/resubmit")
async def resubmit(request: Request, message_id: str) -> Response:
    return await _resend(request, message_id, forward=False)


@router.post("/messages/{message_id}/forward")
async def forward(request: Request, message_id: str) -> Response:
    return await _resend(request, message_id, forward=True)


async def _resend(request: Request, message_id: str, *, forward: bool) -> Response:
    sessions, session, viewer = await viewer_of(request)
    form = await checked_form(request, sessions, session)
    account = form.get("account", "")
    account_id = account_of(viewer, account or None)
    to = form.get("to", "").strip() if forward else None
    now = now_of(request)
    try:
        if forward and not to:
            raise ValidationError("to: the number to forward to is required", field="to")
        new = await run_db(request, lambda conn: resend(conn, account_id, message_id, to=to, now=now))
    except NotFound:
        return not_found(request, sessions, session, viewer, message_id)
    except TextgateError as exc:

        def read(conn: Any) -> tuple[dict[str, Any], list[dict[str, Any]]]:
            return get_message(conn, account_id, message_id), message_events_view(
                conn, account_id, message_id
            )

        message, events = await run_db(request, read)
        return render(
            request,
            "message.html",
            sessions,
            session,
            viewer,
            status_code=STATUS_BY_KIND.get(exc.kind, 400),
            message=message,
            events=events,
            account=account,
            done="",
            error=exc.message,
        )
    return RedirectResponse(
        with_account(f"/dashboard/messages/{new['id']}", viewer, account), status_code=303
    )


def install_dashboard(app: FastAPI) -> None:
    # Each page module adds its routes to ``router`` when imported.
    from textgate.web.dashboard import (  # noqa: F401
        contacts,
        contacts_import,
        keys,
        numbers,
        reports,
        settings,
        users,
        webhooks,
    )

    app.state.dashboard_lock = asyncio.Lock()
    app.mount("/dashboard/static", StaticFiles(directory=HERE / "static"), name="dashboard-static")
    app.include_router(router)

    @app.get("/", include_in_schema=False)
    async def root() -> Response:
        return RedirectResponse("/dashboard", status_code=307)

    @app.exception_handler(SignedOut)
    async def signed_out(request: Request, exc: SignedOut) -> Response:
        if request.method == "GET":
            return RedirectResponse("/dashboard/login", status_code=303)
        return Response("sign in first", status_code=401, media_type="text/plain")

    @app.exception_handler(CsrfRefused)
    async def csrf_refused(request: Request, exc: CsrfRefused) -> Response:
        return Response(
            "this form has no valid CSRF token: reload the page and try again",
            status_code=403,
            media_type="text/plain",
        )
