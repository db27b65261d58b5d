"""Settings: region, time zone, prices shown, BestSMS part limit, opt-out keywords and replies, sender
policy, tracked links (the account setting ``link_tracking``, docs/links.md).

An account changes its own preferences (region, time zone, keyword replies, BestSMS defaults); prices,
sender policy and destination rules are shown read-only and only an operator changes them (as
``textgate accounts set`` does). The fields and their checks: service/dashboard_admin.py.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import RedirectResponse, Response

from textgate.api.deps import run_db
from textgate.domain.errors import NotFound, TextgateError
from textgate.service.dashboard_admin import (
    ACCOUNT_FIELDS,
    FIELD_LABELS,
    OPERATOR_FIELDS,
    change_settings,
    settings_view,
)
from textgate.web.dashboard.common import checked_form, render, router, viewer_of
from textgate.web.dashboard.keys import chosen_account, field_error, not_found, query
from textgate.web.dashboard.session import Session, Sessions


async def _settings(
    request: Request,
    sessions: Sessions,
    session: Session,
    viewer: dict[str, Any],
    account_id: str | None,
    *,
    done: str = "",
    error: str | None = None,
    error_field: str | None = None,
    form: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    view = None
    if account_id is not None:
        try:
            view = await run_db(request, lambda conn: settings_view(conn, account_id))
        except NotFound:
            return not_found(request, sessions, session, viewer, f"account {account_id}")
        if form is not None:  # what was typed, shown again with the error
            operator = viewer["kind"] == "operator"
            for name, kind, _ in ACCOUNT_FIELDS + (OPERATOR_FIELDS if operator else ()):
                if kind == "flag":
                    view["values"][name] = name in form
                elif name in form:
                    view["values"][name] = form[name]
    return render(
        request,
        "settings.html",
        sessions,
        session,
        viewer,
        status_code=status_code,
        account=account_id or "",
        view=view,
        account_fields=ACCOUNT_FIELDS,
        operator_fields=OPERATOR_FIELDS,
        done=done,
        error=error,
        error_field=error_field,
    )


@router.get("/settings")
async def settings_page(request: Request, account: str = "", done: str = "") -> Response:
    sessions, session, viewer = await viewer_of(request)
    return await _settings(request, sessions, session, viewer, chosen_account(viewer, account), done=done)


@router.post("/settings")
async def save_settings(request: Request) -> Response:
    sessions, session, viewer = await viewer_of(request)
    form = await checked_form(request, sessions, session)
    account_id = chosen_account(viewer, form.get("account", ""))
    if account_id is None:
        return not_found(request, sessions, session, viewer, "account")
    operator = viewer["kind"] == "operator"
    try:
        await run_db(request, lambda conn: change_settings(conn, account_id, form, operator=operator))
    except NotFound:
        return not_found(request, sessions, session, viewer, f"account {account_id}")
    except TextgateError as exc:
        message, field = field_error(exc, FIELD_LABELS)
        return await _settings(
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
    return RedirectResponse(f"/dashboard/settings{query(viewer, account_id, done='saved')}", status_code=303)
