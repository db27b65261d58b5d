"""Settings: region, time zone, prices shown, BestSMS part limit, opt-out keywords and replies, sender
policy, tracked links (the account setting ``link_tracking``, docs/links.md).

An account changes its own preferences (region, time zone, keyword replies, BestSMS defaults); prices,
sender policy and destination rules are shown read-only and only an operator changes them (as
``textgate accounts set`` does). The fields and their checks: service/dashboard_admin.py.
"""

from __future__ import annotations

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
from textgate.web.dashboard.common import (
    Page,
    chosen_account,
    page_of,
    posted_for_account,
    router,
)
from textgate.web.dashboard.forms import field_error


async def _settings(
    page: Page,
    account_id: str | None,
    *,
    done: str = "",
    refused: TextgateError | None = None,
    form: dict[str, str] | None = None,
) -> Response:
    error, error_field = field_error(refused, FIELD_LABELS) if refused else (None, None)
    view = None
    if account_id is not None:
        try:
            view = await run_db(page.request, lambda conn: settings_view(conn, account_id))
        except NotFound:
            return page.not_found(f"account {account_id}")
        if form is not None:  # what was typed, shown again with the error
            operator = page.viewer["kind"] == "operator"
            for name, kind, _ in ACCOUNT_FIELDS + (OPERATOR_FIELDS if operator else ()):
                if kind == "flag":
                    view["values"][name] = name in form
                elif name in form:
                    view["values"][name] = form[name]
    return page.render(
        "settings.html",
        status_code=400 if refused else 200,
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
    page = await page_of(request)
    return await _settings(page, chosen_account(page.viewer, account), done=done)


@router.post("/settings")
async def save_settings(request: Request) -> Response:
    page, form, account_id = await posted_for_account(request)
    if account_id is None:
        return page.not_found("account")
    operator = page.viewer["kind"] == "operator"
    try:
        await run_db(request, lambda conn: change_settings(conn, account_id, form, operator=operator))
    except NotFound:
        return page.not_found(f"account {account_id}")
    except TextgateError as exc:
        return await _settings(page, account_id, refused=exc, form=form)
    return RedirectResponse(page.link("/dashboard/settings", account_id, done="saved"), status_code=303)
