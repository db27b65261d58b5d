"""What the dashboard's forms share: how a refused form names its error and picks its status, and the
one-time flash that carries a new secret over the redirect after creating something."""

from __future__ import annotations

from typing import Any

from fastapi.responses import RedirectResponse, Response
from itsdangerous import BadSignature, URLSafeTimedSerializer

from textgate.domain.errors import ErrorKind, TextgateError
from textgate.web.dashboard.common import Page
from textgate.web.dashboard.session import Session, Sessions

FLASH = "textgate_flash"
FLASH_SECONDS = 120


def field_error(exc: TextgateError, labels: dict[str, str]) -> tuple[str, str | None]:
    """The message of ``exc`` led by the label of the field it names, and that field."""
    field = exc.field
    message = exc.message
    if field is None:
        return message, None
    if message.startswith(f"{field}:") or message.startswith(f"{field} "):
        message = message[len(field) + 1 :].strip()
    return f"{labels.get(field, field)}: {message}", field


def form_error(exc: TextgateError) -> dict[str, str | None]:
    return {"field": exc.field, "message": exc.message}


def form_status(exc: TextgateError) -> int:
    """A refused form's status: 404 for someone else's thing, 403 when not allowed, else 400."""
    if exc.kind == ErrorKind.NOT_FOUND:
        return 404
    if exc.kind == ErrorKind.PERMISSION_DENIED:
        return 403
    return 400


def _flash_signer(sessions: Sessions, session: Session) -> URLSafeTimedSerializer:
    # Keyed per session by an HMAC the page never shows: only this session can read (or forge) it.
    return URLSafeTimedSerializer(
        sessions.csrf_token(f"flash:{session.sid}"), salt="textgate-dashboard-flash"
    )


def redirect_with_flash(page: Page, url: str, data: dict[str, Any]) -> Response:
    """303 to ``url`` with ``data`` (a new secret) for that page to show once, in a short-lived signed
    cookie."""
    response = RedirectResponse(url, 303)
    response.set_cookie(
        FLASH,
        _flash_signer(page.sessions, page.session).dumps(data),
        max_age=FLASH_SECONDS,
        httponly=True,
        samesite="strict",
        secure=page.request.url.scheme == "https",
        path="/dashboard",
    )
    return response


def _take_flash(page: Page, kind: str) -> dict[str, Any] | None:
    raw = page.request.cookies.get(FLASH)
    if not raw:
        return None
    try:
        data = _flash_signer(page.sessions, page.session).loads(raw, max_age=FLASH_SECONDS)
    except BadSignature:
        return None
    return data if isinstance(data, dict) and data.get("kind") == kind else None


def render_with_flash(
    page: Page, template: str, *, flash: str | None, status_code: int = 200, **context: Any
) -> Response:
    """:meth:`Page.render` with ``created``: the flash of kind ``flash`` (None: none looked for), whose
    cookie is then deleted: it is shown once."""
    created = _take_flash(page, flash) if flash else None
    response = page.render(template, status_code, created=created, **context)
    if created is not None:
        response.delete_cookie(FLASH, path="/dashboard")
    return response
