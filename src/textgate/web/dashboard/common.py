"""What every dashboard page shares: the router, the templates, the signed-in viewer, page rendering
with the security headers, CSRF-checked forms, the account a page is about, links that keep an
operator's choice of account, and the 404 page; :class:`Page` bundles them for one request."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.templating import Jinja2Templates

from textgate.api.deps import now_of, run_db
from textgate.domain.errors import NotFound, ValidationError
from textgate.service.accounts import get_account
from textgate.service.operators import operator_exists, shared_secret
from textgate.web.dashboard.session import Session, Sessions

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")
router = APIRouter(prefix="/dashboard", include_in_schema=False)
#: Security headers of every page: scripts and styles from the gateway only, no framing.
PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
        "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


class SignedOut(Exception):
    """The request needs a session it does not have."""


async def sessions_of(request: Request) -> Sessions:
    app = request.app
    sessions: Sessions | None = getattr(app.state, "dashboard_sessions", None)
    if sessions is None:
        lock: asyncio.Lock = app.state.dashboard_lock
        async with lock:
            sessions = getattr(app.state, "dashboard_sessions", None)
            if sessions is None:
                configured = app.state.settings.secret_key
                now = now_of(request)
                secret = await run_db(
                    request, lambda conn: shared_secret(conn, "dashboard_session", configured, now=now)
                )
                sessions = app.state.dashboard_sessions = Sessions(secret)
    return sessions


async def viewer_of(request: Request) -> tuple[Sessions, Session, dict[str, Any]]:
    """The signed-in session and who it is: ``{"kind", "name", "account_id"}``; raises SignedOut."""
    sessions = await sessions_of(request)
    session = sessions.read(request)
    if session is None:
        raise SignedOut

    def who(conn: Any) -> dict[str, Any] | None:
        if session.kind == "operator":
            return (
                {"kind": "operator", "name": "operator", "account_id": None}
                if operator_exists(conn, session.subject)
                else None
            )
        try:
            account = get_account(conn, session.subject)
        except NotFound:
            return None
        if account.status != "active":
            return None
        return {"kind": "account", "name": account.name, "account_id": account.id}

    viewer = await run_db(request, who)
    if viewer is None:
        raise SignedOut
    return sessions, session, viewer


def render(
    request: Request,
    template: str,
    sessions: Sessions,
    session: Session,
    viewer: dict[str, Any],
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    response = templates.TemplateResponse(
        request,
        template,
        {"viewer": viewer, "csrf": sessions.csrf_token(session.sid), **context},
        status_code=status_code,
        headers=PAGE_HEADERS,
    )
    sessions.write(request, response, session)  # renewed: the idle timer starts again
    return response


async def checked_form(request: Request, sessions: Sessions, session: Session) -> dict[str, str]:
    form = await request.form()
    token = form.get("csrf") or request.headers.get("x-csrf-token")
    if not sessions.csrf_ok(session.sid, token if isinstance(token, str) else None):
        raise CsrfRefused
    return {k: v for k, v in form.items() if isinstance(v, str)}


class CsrfRefused(Exception):
    """A state-changing request without its CSRF token."""


def account_of(viewer: dict[str, Any], requested: str | None) -> str:
    """The account a page is about: the signed-in account's own, or, for an operator, ``account``."""
    if viewer["kind"] == "account":
        return str(viewer["account_id"])
    if not requested:
        raise ValidationError("choose an account", field="account")
    return requested


def chosen_account(viewer: dict[str, Any], account: str) -> str | None:
    """The account a page is about: the signed-in account's, or the one an operator chose (None: not yet)."""
    if viewer["kind"] == "account":
        return str(viewer["account_id"])
    return account.strip() or None


def scope_of(viewer: dict[str, Any], requested: str | None) -> str | None:
    """As :func:`account_of`, but None for an operator who has not chosen an account yet."""
    if viewer["kind"] == "operator" and not requested:
        return None
    return account_of(viewer, requested)


async def account_exists(request: Request, account_id: str) -> bool:
    try:
        await run_db(request, lambda conn: get_account(conn, account_id))
    except NotFound:
        return False
    return True


def with_account(path: str, viewer: dict[str, Any], account: str | None, **query: str) -> str:
    """``path`` with ``?account=`` for an operator (and the non-empty ``query``), for links and redirects."""
    params = {k: v for k, v in query.items() if v}
    if viewer["kind"] == "operator" and account:
        params = {"account": account, **params}
    return f"{path}?{urlencode(params)}" if params else path


def not_found(
    request: Request, sessions: Sessions, session: Session, viewer: dict[str, Any], what: str
) -> Response:
    return render(request, "notfound.html", sessions, session, viewer, status_code=404, what=what)


@dataclass(frozen=True, slots=True)
class Page:
    """A signed-in request and who it is (:func:`page_of`), with the answers a page gives."""

    request: Request
    sessions: Sessions
    session: Session
    viewer: dict[str, Any]

    async def form(self) -> dict[str, str]:
        """The posted form, CSRF-checked (:func:`checked_form`)."""
        return await checked_form(self.request, self.sessions, self.session)

    def render(self, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
        return render(
            self.request, template, self.sessions, self.session, self.viewer, status_code, **context
        )

    def not_found(self, what: str) -> Response:
        return not_found(self.request, self.sessions, self.session, self.viewer, what)

    def link(self, path: str, account: str | None, **query: str) -> str:
        """:func:`with_account` for this viewer."""
        return with_account(path, self.viewer, account, **query)


async def page_of(request: Request) -> Page:
    """The :class:`Page` of a request; raises SignedOut."""
    return Page(request, *await viewer_of(request))


async def posted_for_account(request: Request) -> tuple[Page, dict[str, str], str | None]:
    """A POST's :class:`Page`, its CSRF-checked form and the account it is about (:func:`chosen_account`
    of the form's ``account``)."""
    page = await page_of(request)
    form = await page.form()
    return page, form, chosen_account(page.viewer, form.get("account", ""))
