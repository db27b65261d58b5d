"""API keys: create (the secret shown once), list, revoke.

A new key's secret is never put in a URL: the create form answers 303 to the key's "created" page and
hands the secret over in a short-lived cookie (``HttpOnly``, ``SameSite=Strict``, path ``/dashboard/keys``)
that the page reads once and deletes; reloading it shows that the secret cannot be shown again.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import RedirectResponse, Response

from textgate.api.deps import now_of, run_db
from textgate.domain.errors import NotFound, TextgateError
from textgate.service.accounts import KEY_OPTIONS, create_key
from textgate.service.dashboard_admin import get_key, key_secret_matches, list_keys, revoke_account_key
from textgate.web.dashboard.common import (
    Page,
    account_exists,
    chosen_account,
    page_of,
    posted_for_account,
    router,
)
from textgate.web.dashboard.forms import field_error

NEW_KEY_COOKIE = "textgate_new_key"
NEW_KEY_SECONDS = 300


# -- pages --------------------------------------------------------------------------------------------
KEY_LABELS = {"name": "Name", "bestsms_answers": "BestSMS answers", "options": "Options", "key_id": "Key"}


@router.get("/keys")
async def keys_page(request: Request, account: str = "", done: str = "", key: str = "") -> Response:
    page = await page_of(request)
    account_id = chosen_account(page.viewer, account)
    if account_id is not None and not await account_exists(request, account_id):
        return page.not_found(f"account {account_id}")
    return await _keys(page, account_id, done=done, key=key)


async def _keys(
    page: Page,
    account_id: str | None,
    *,
    done: str = "",
    key: str = "",
    refused: TextgateError | None = None,
    form: dict[str, str] | None = None,
) -> Response:
    error, error_field = field_error(refused, KEY_LABELS) if refused else (None, None)
    rows = await run_db(page.request, lambda conn: list_keys(conn, account_id)) if account_id else []
    return page.render(
        "keys.html",
        status_code=400 if refused else 200,
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
    page, form, account_id = await posted_for_account(request)
    if account_id is None or not await account_exists(request, account_id):
        return page.not_found(f"account {account_id or ''}".strip())
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
        return await _keys(page, account_id, refused=exc, form=form)
    response = RedirectResponse(
        page.link(f"/dashboard/keys/{new.key_id}/created", account_id), status_code=303
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
    page = await page_of(request)
    account_id = chosen_account(page.viewer, account)
    if account_id is None:
        return page.not_found(f"API key {key_id}")
    held_id, _, secret = (request.cookies.get(NEW_KEY_COOKIE) or "").partition(":")

    def read(conn: Any) -> tuple[dict[str, Any], bool]:
        found = get_key(conn, account_id, key_id)
        fresh = held_id == key_id and bool(secret) and key_secret_matches(conn, account_id, key_id, secret)
        return found, fresh

    try:
        found, fresh = await run_db(request, read)
    except NotFound:
        return page.not_found(f"API key {key_id}")
    response = page.render(
        "keys_created.html",
        key=found,
        secret=secret if fresh else None,
        account=account_id,
        back=page.link("/dashboard/keys", account_id),
    )
    if held_id == key_id:
        response.delete_cookie(NEW_KEY_COOKIE, path="/dashboard/keys")
    return response


@router.get("/keys/{key_id}/revoke")
async def revoke_confirm(request: Request, key_id: str, account: str = "") -> Response:
    page = await page_of(request)
    account_id = chosen_account(page.viewer, account)
    if account_id is None:
        return page.not_found(f"API key {key_id}")
    try:
        found = await run_db(request, lambda conn: get_key(conn, account_id, key_id))
    except NotFound:
        return page.not_found(f"API key {key_id}")
    return page.render(
        "keys_revoke.html",
        key=found,
        account=account_id if page.viewer["kind"] == "operator" else "",
        back=page.link("/dashboard/keys", account_id),
    )


@router.post("/keys/{key_id}/revoke")
async def revoke(request: Request, key_id: str) -> Response:
    page, _, account_id = await posted_for_account(request)
    if account_id is None:
        return page.not_found(f"API key {key_id}")
    now = now_of(request)
    try:
        await run_db(request, lambda conn: revoke_account_key(conn, account_id, key_id, now=now))
    except NotFound:
        return page.not_found(f"active API key {key_id}")
    return RedirectResponse(
        page.link("/dashboard/keys", account_id, done="revoked", key=key_id), status_code=303
    )
