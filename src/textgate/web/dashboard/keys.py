"""API keys: create (the secret shown once), list, revoke.

A new key's secret is never put in a URL: the create form answers 303 to the key's "created" page and
hands the secret over in a short-lived cookie (``HttpOnly``, ``SameSite=Strict``, path ``/dashboard/keys``)
that the page reads once and deletes; reloading it shows that the secret cannot be shown again.

Also the helpers the Numbers and Settings pages share: the account a page is about, the query string
that keeps an operator's choice, and error texts that name the form field.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import RedirectResponse, Response

from textgate.api.deps import now_of, run_db
from textgate.domain.errors import NotFound, TextgateError
from textgate.service.accounts import KEY_OPTIONS, create_key, get_account
from textgate.service.dashboard_admin import get_key, key_secret_matches, list_keys, revoke_account_key
from textgate.web.dashboard.common import checked_form, render, router, viewer_of
from textgate.web.dashboard.session import Session, Sessions

NEW_KEY_COOKIE = "textgate_new_key"
NEW_KEY_SECONDS = 300


# -- shared by the admin pages ------------------------------------------------------------------------
def chosen_account(viewer: dict[str, Any], account: str) -> str | None:
    """The account a page is about: the signed-in account's, or the one an operator chose (None: not yet)."""
    if viewer["kind"] == "account":
        return str(viewer["account_id"])
    return account.strip() or None


def query(viewer: dict[str, Any], account_id: str, **extra: str) -> str:
    """``?account=…&…`` for an operator (``?…`` of ``extra`` only for an account); empty when nothing."""
    params = {"account": account_id} if viewer["kind"] == "operator" else {}
    params.update({k: v for k, v in extra.items() if v})
    return f"?{urlencode(params)}" if params else ""


def field_error(exc: TextgateError, labels: dict[str, str]) -> tuple[str, str | None]:
    """The message of ``exc`` led by the label of the field it names, and that field."""
    field = exc.field
    message = exc.message
    if field is None:
        return message, None
    if message.startswith(f"{field}:") or message.startswith(f"{field} "):
        message = message[len(field) + 1 :].strip()
    return f"{labels.get(field, field)}: {message}", field


def not_found(
    request: Request, sessions: Sessions, session: Session, viewer: dict[str, Any], what: str
) -> Response:
    return render(request, "notfound.html", sessions, session, viewer, status_code=404, what=what)


async def account_exists(request: Request, account_id: str) -> bool:
    try:
        await run_db(request, lambda conn: get_account(conn, account_id))
    except NotFound:
        return False
    return True


# -- pages --------------------------------------------------------------------------------------------
KEY_LABELS = {"name": "Name", "bestsms_answers": "BestSMS answers", "options": "Options", "key_id": "Key"}


@router.get("/keys")
async def keys_page(request: Request, account: str = "", done: str = "", key: str = "") -> Response:
    sessions, session, viewer = await viewer_of(request)
    account_id = chosen_account(viewer, account)
    if account_id is not None and not await account_exists(request, account_id):
        return not_found(request, sessions, session, viewer, f"account {account_id}")
    return await _keys(request, sessions, session, viewer, account_id, done=done, key=key)


async def _keys(
    request: Request,
    sessions: Sessions,
    session: Session,
    viewer: dict[str, Any],
    account_id: str | None,
    *,
    done: str = "",
    key: str = "",
    error: str | None = None,
    error_field: str | None = None,
    form: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    rows = await run_db(request, lambda conn: list_keys(conn, account_id)) if account_id else []
    return render(
        request,
        "keys.html",
        sessions,
        session,
        viewer,
        status_code=status_code,
        account=account_id or "",
        keys=rows,
        done=done,
        done_key=key,
        error=error,
        error_field=error_field,
        form=form or {},
        answers=KEY_OPTIONS["bestsms_answers"],
    )


@router.post("/keys")
async def create_key_form(request: Request) -> Response:
    sessions, session, viewer = await viewer_of(request)
    form = await checked_form(request, sessions, session)
    account_id = chosen_account(viewer, form.get("account", ""))
    if account_id is None or not await account_exists(request, account_id):
        return not_found(request, sessions, session, viewer, f"account {account_id or ''}".strip())
    name = form.get("name", "")
    answers = form.get("bestsms_answers", KEY_OPTIONS["bestsms_answers"][0])
    now = now_of(request)
    try:
        new = await run_db(
            request,
            lambda conn: create_key(
                conn, account_id, now=now, name=name, options={"bestsms_answers": answers}
            ),
        )
    except TextgateError as exc:
        message, field = field_error(exc, KEY_LABELS)
        return await _keys(
            request,
            sessions,
            session,
            viewer,
            account_id,
            error=message,
            error_field=field,
            form=form,
            status_code=400,
        )
    response = RedirectResponse(
        f"/dashboard/keys/{new.key_id}/created{query(viewer, account_id)}", status_code=303
    )
    response.set_cookie(
        NEW_KEY_COOKIE,
        f"{new.key_id}:{new.secret}",
        max_age=NEW_KEY_SECONDS,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/dashboard/keys",
    )
    return response


@router.get("/keys/{key_id}/created")
async def created_page(request: Request, key_id: str, account: str = "") -> Response:
    sessions, session, viewer = await viewer_of(request)
    account_id = chosen_account(viewer, account)
    if account_id is None:
        return not_found(request, sessions, session, viewer, f"API key {key_id}")
    held_id, _, secret = (request.cookies.get(NEW_KEY_COOKIE) or "").partition(":")

    def read(conn: Any) -> tuple[dict[str, Any], bool]:
        found = get_key(conn, account_id, key_id)
        fresh = held_id == key_id and bool(secret) and key_secret_matches(conn, account_id, key_id, secret)
        return found, fresh

    try:
        found, fresh = await run_db(request, read)
    except NotFound:
        return not_found(request, sessions, session, viewer, f"API key {key_id}")
    response = render(
        request,
        "keys_created.html",
        sessions,
        session,
        viewer,
        key=found,
        secret=secret if fresh else None,
        account=account_id,
        back=f"/dashboard/keys{query(viewer, account_id)}",
    )
    if held_id == key_id:
        response.delete_cookie(NEW_KEY_COOKIE, path="/dashboard/keys")
    return response


@router.get("/keys/{key_id}/revoke")
async def revoke_confirm(request: Request, key_id: str, account: str = "") -> Response:
    sessions, session, viewer = await viewer_of(request)
    account_id = chosen_account(viewer, account)
    if account_id is None:
        return not_found(request, sessions, session, viewer, f"API key {key_id}")
    try:
        found = await run_db(request, lambda conn: get_key(conn, account_id, key_id))
    except NotFound:
        return not_found(request, sessions, session, viewer, f"API key {key_id}")
    return render(
        request,
        "keys_revoke.html",
        sessions,
        session,
        viewer,
        key=found,
        account=account_id if viewer["kind"] == "operator" else "",
        back=f"/dashboard/keys{query(viewer, account_id)}",
    )


@router.post("/keys/{key_id}/revoke")
async def revoke(request: Request, key_id: str) -> Response:
    sessions, session, viewer = await viewer_of(request)
    form = await checked_form(request, sessions, session)
    account_id = chosen_account(viewer, form.get("account", ""))
    if account_id is None:
        return not_found(request, sessions, session, viewer, f"API key {key_id}")
    now = now_of(request)
    try:
        await run_db(request, lambda conn: revoke_account_key(conn, account_id, key_id, now=now))
    except NotFound:
        return not_found(request, sessions, session, viewer, f"active API key {key_id}")
    return RedirectResponse(
        f"/dashboard/keys{query(viewer, account_id, done='revoked', key=key_id)}", status_code=303
    )
