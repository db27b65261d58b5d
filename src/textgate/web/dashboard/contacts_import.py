"""The contacts' CSV import page (``/dashboard/contacts/import``): upload a file, see the import's
progress streamed while it runs, then every line's result. The import itself is the one the API and the
CLI use (service/contact_import.py); the page's shared steps are the contacts pages' (contacts.py)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime
from html import escape
from typing import Any

from fastapi import Request
from fastapi.responses import RedirectResponse, Response, StreamingResponse
from sqlalchemy import Connection
from starlette.datastructures import UploadFile

from textgate.api.deps import now_of, run_db
from textgate.domain.errors import NotFound, TextgateError
from textgate.service.accounts import Account, get_account
from textgate.service.contact_import import (
    DUPLICATE_NAME,
    DUPLICATE_NUMBER,
    FAILED,
    PARTIAL,
    SUCCESS,
    ImportReport,
    import_contacts_csv,
)
from textgate.web.dashboard.common import account_of, checked_form, router, viewer_of
from textgate.web.dashboard.contacts import (
    Viewer,
    _common,
    _Form,
    _in_account,
    _not_found,
    _show,
    _suffix,
)

#: The largest CSV file the import takes (about 200,000 typical lines).
IMPORT_MAX_BYTES = 10 * 1024 * 1024
#: Lines shown on the result page at most; above it, only the lines that were not a Success.
LINES_SHOWN = 2000
OUTCOMES = (SUCCESS, PARTIAL, FAILED, DUPLICATE_NAME, DUPLICATE_NUMBER)
ACCEPTED = frozenset({SUCCESS, PARTIAL})
DUPLICATES = {"refuse": (False, False), "add": (True, False), "overwrite": (False, True)}


@router.get("/contacts/import")
async def import_page(request: Request, account: str = "") -> Response:
    v = await viewer_of(request)
    if v[2]["kind"] == "operator" and not account:
        return RedirectResponse("/dashboard/contacts", status_code=303)
    account_id = account_of(v[2], account)
    return _import_form(request, v, account_id)


def _import_form(
    request: Request, v: Viewer, account_id: str, form: _Form | None = None, status_code: int = 200
) -> Response:
    return _show(
        request,
        "contact_import.html",
        v,
        status_code=status_code,
        form=form or _Form({"duplicates": "refuse"}),
        report=None,
        max_mb=IMPORT_MAX_BYTES // (1024 * 1024),
        suffix=_suffix(v[2], account_id),
        **_common(v[2], account_id),
    )


@router.post("/contacts/import")
async def import_csv(request: Request) -> Response:
    v = await viewer_of(request)
    sessions, session, viewer = v
    length = request.headers.get("content-length", "")
    too_large = not length.isdigit() or int(length) > IMPORT_MAX_BYTES + 64 * 1024
    if too_large:  # refused before the body is read: nothing this large is spooled to disk
        account_id = account_of(viewer, request.query_params.get("account") or None)
        return _import_refused(
            request,
            v,
            account_id,
            {},
            f"file: the upload is larger than {IMPORT_MAX_BYTES // 2**20} MB, or its length is not given",
        )
    raw = await request.form(max_files=1, max_fields=10)
    form = await checked_form(request, sessions, session)
    account_id = account_of(viewer, form.get("account") or None)
    upload = raw.get("file")
    duplicates = form.get("duplicates", "refuse")
    if duplicates not in DUPLICATES:
        return _import_refused(request, v, account_id, form, "duplicates: choose refuse, add or overwrite")
    if not isinstance(upload, UploadFile) or not upload.filename:
        return _import_refused(request, v, account_id, form, "file: choose a CSV file to import")
    data = await upload.read(IMPORT_MAX_BYTES + 1)
    if len(data) > IMPORT_MAX_BYTES:
        return _import_refused(
            request, v, account_id, form, f"file: the file is larger than {IMPORT_MAX_BYTES // 2**20} MB"
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return _import_refused(
            request,
            v,
            account_id,
            form,
            f"file: {upload.filename} is not UTF-8 text (byte {exc.start}); save it as CSV UTF-8",
        )
    if not text.strip():
        return _import_refused(request, v, account_id, form, f"file: {upload.filename} has no lines")
    ignore, overwrite = DUPLICATES[duplicates]
    now = now_of(request)
    try:  # an unknown account is a 404 before anything is streamed
        await run_db(request, lambda conn: get_account(conn, account_id))
    except NotFound:
        return _not_found(request, v, f"account {account_id}")
    return await _stream_import(
        request, v, account_id, upload.filename, text, duplicates, ignore, overwrite, now
    )


#: Lines between two progress reports of an import.
IMPORT_STEP = 1000
_STREAM, _RESULT_START, _RESULT_END = (
    "<!--textgate:stream-->",
    "<!--textgate:result-->",
    "<!--textgate:end-->",
)


async def _stream_import(
    request: Request,
    v: Viewer,
    account_id: str,
    filename: str,
    text: str,
    duplicates: str,
    ignore: bool,
    overwrite: bool,
    now: datetime,
) -> Response:
    """The import's page, streamed: the page up to the results at once, then "Imported N of M lines"
    after every :data:`IMPORT_STEP` lines while the import runs (one transaction, on a database thread),
    then the per-line results and the rest of the page. The browser shows each part as it arrives (CSS
    keeps only the latest progress line in view), with no script needed."""
    viewer = v[2]
    loop = asyncio.get_running_loop()
    steps: asyncio.Queue[tuple[int, int] | None] = asyncio.Queue()

    def progress(done: int, total: int) -> None:
        loop.call_soon_threadsafe(steps.put_nowait, (done, total))

    def run(conn: Connection, account: Account) -> ImportReport:
        return import_contacts_csv(
            conn,
            account,
            text,
            ignore_dupes=ignore,
            overwrite_dupes=overwrite,
            now=now,
            progress=progress,
            chunk=IMPORT_STEP,
        )

    task = asyncio.ensure_future(_in_account(request, account_id, run))
    task.add_done_callback(lambda _: steps.put_nowait(None))
    common = {
        "form": _Form({"duplicates": duplicates}),
        "filename": filename,
        "max_mb": IMPORT_MAX_BYTES // (1024 * 1024),
        "suffix": _suffix(viewer, account_id),
        **_common(viewer, account_id),
    }
    shell = _show(request, "contact_import.html", v, report=None, streaming=True, **common)
    head, tail = bytes(shell.body).decode().split(_STREAM, 1)

    async def body() -> AsyncIterator[str]:
        yield head
        while (step := await steps.get()) is not None:
            done, total = step
            yield f'<p class="import-step">Imported {done:,} of {total:,} lines…</p>\n'
        yield "</div>"
        try:
            report = task.result()
        except TextgateError as exc:
            failed = escape(exc.message)
            yield f'<p class="error" role="alert">The import failed, nothing was imported: {failed}</p>'
        else:
            page = _show(request, "contact_import.html", v, **_result_context(report), **common)
            html = bytes(page.body).decode()
            yield html[html.index(_RESULT_START) + len(_RESULT_START) : html.index(_RESULT_END)]
        yield tail

    response = StreamingResponse(body(), media_type="text/html; charset=utf-8")
    # The page's own headers: the security headers and the renewed session cookie.
    response.raw_headers.extend(
        (k, val) for k, val in shell.raw_headers if k not in (b"content-length", b"content-type")
    )
    return response


def _result_context(report: ImportReport) -> dict[str, Any]:
    counts = {outcome: report.count(outcome) for outcome in OUTCOMES}
    lines = list(report.lines)
    only_problems = len(lines) > LINES_SHOWN
    if only_problems:
        lines = [line for line in lines if line.outcome != SUCCESS][:LINES_SHOWN]
    return {
        "report": report,
        "counts": {k: n for k, n in counts.items() if n},
        "accepted": sum(counts[o] for o in ACCEPTED),
        "refused": sum(n for o, n in counts.items() if o not in ACCEPTED),
        "lines": lines,
        "accepted_outcomes": ACCEPTED,
        "only_problems": only_problems,
        "lines_shown": LINES_SHOWN,
    }


def _import_refused(
    request: Request, v: Viewer, account_id: str, values: dict[str, str], message: str
) -> Response:
    form = _Form({"duplicates": values.get("duplicates", "refuse")})
    form.error, form.field = message, message.split(":", 1)[0]
    return _import_form(request, v, account_id, form, status_code=400)
