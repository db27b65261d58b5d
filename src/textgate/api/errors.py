"""Errors as the native API answers them.

The body is ``{"error": {"code", "message", "field"}}`` with a fitting HTTP status.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from textgate.domain.errors import ErrorKind, TextgateError

STATUS_BY_KIND: dict[ErrorKind, int] = {
    ErrorKind.AUTHENTICATION: 401,
    ErrorKind.PERMISSION_DENIED: 403,
    ErrorKind.NOT_FOUND: 404,
    ErrorKind.CONFLICT: 409,
    ErrorKind.TOO_LARGE: 413,
    ErrorKind.RATE_LIMITED: 429,
    ErrorKind.INSUFFICIENT_CREDITS: 402,
}
DEFAULT_STATUS = 400

KIND_BY_STATUS: dict[int, ErrorKind] = {
    401: ErrorKind.AUTHENTICATION,
    403: ErrorKind.PERMISSION_DENIED,
    404: ErrorKind.NOT_FOUND,
    405: ErrorKind.VALIDATION,
    409: ErrorKind.CONFLICT,
    413: ErrorKind.TOO_LARGE,
    429: ErrorKind.RATE_LIMITED,
}


def error_body(kind: ErrorKind, message: str, field: str | None) -> dict[str, Any]:
    return {"error": {"code": kind.value, "message": message, "field": field}}


def error_response(exc: TextgateError) -> JSONResponse:
    status = STATUS_BY_KIND.get(exc.kind, DEFAULT_STATUS)
    headers = {"WWW-Authenticate": 'Bearer, Basic realm="textgate"'} if status == 401 else None
    return JSONResponse(error_body(exc.kind, exc.message, exc.field), status_code=status, headers=headers)


def _field_of(loc: tuple[Any, ...]) -> str | None:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or None


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(TextgateError)
    async def _textgate_error(_request: Request, exc: TextgateError) -> JSONResponse:
        return error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
        if first.get("type") == "json_invalid":
            ctx = first.get("ctx")
            detail = ctx.get("error", "") if isinstance(ctx, dict) else ""
            message = f"the request body is not valid JSON{': ' + str(detail) if detail else ''}"
            return JSONResponse(error_body(ErrorKind.VALIDATION, message, None), status_code=422)
        field = _field_of(tuple(first.get("loc", ())))
        message = str(first.get("msg", "invalid request"))
        if field:
            message = f"{field}: {message}"
        return JSONResponse(error_body(ErrorKind.VALIDATION, message, field), status_code=422)

    # Safety nets for input no validation caught: a date too near the calendar's ends, text with a lone
    # UTF-16 surrogate (valid JSON, but no string a database can store). Named checks refuse both earlier
    # with the field; these keep such input from ever being a 500.
    @app.exception_handler(OverflowError)
    async def _overflow(_request: Request, exc: OverflowError) -> JSONResponse:
        message = "a date or number in the request is out of range"
        return JSONResponse(error_body(ErrorKind.VALIDATION, message, None), status_code=400)

    @app.exception_handler(UnicodeEncodeError)
    async def _surrogate(_request: Request, exc: UnicodeEncodeError) -> JSONResponse:
        message = "the request contains text that is not valid Unicode (a lone UTF-16 surrogate)"
        return JSONResponse(error_body(ErrorKind.VALIDATION, message, None), status_code=400)

    @app.exception_handler(OperationalError)
    async def _database(_request: Request, exc: OperationalError) -> JSONResponse:
        # The database refused the work (disk full, locked too long, unreachable): nothing was stored, and
        # the request can be sent again later. 503, not 500: it is the gateway's state, not a bug.
        reason = str(exc.orig)[:120]
        message = f"the gateway's storage refused the request ({reason}); nothing was stored, retry later"
        return JSONResponse(
            error_body(ErrorKind.PLATFORM_ERROR, message, None), status_code=503, headers={"Retry-After": "5"}
        )

    @app.exception_handler(Exception)
    async def _unexpected(_request: Request, exc: Exception) -> JSONResponse:
        # Logged by the server; the caller gets the API's error shape, never an HTML page.
        return JSONResponse(
            error_body(ErrorKind.PLATFORM_ERROR, "internal error; the request was not completed", None),
            status_code=500,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        kind = KIND_BY_STATUS.get(exc.status_code, ErrorKind.VALIDATION)
        return JSONResponse(
            error_body(kind, str(exc.detail), None), status_code=exc.status_code, headers=exc.headers
        )
