"""The API reference pages, ``/docs`` (Swagger UI) and ``/redoc`` (ReDoc), served with no internet.

FastAPI's own pages load their JavaScript and CSS from a CDN, so on a gateway without internet they stay
blank. These are the same pages (``fastapi.openapi.docs``) pointed at files textgate serves itself under
``/docs/assets/``: the Swagger UI 5 and ReDoc 2 bundles that the ``fastapi-offline`` package ships (it
tracks the releases FastAPI's CDN links follow). Nothing on the pages asks another host for anything:
Swagger UI's validator badge (which would send the document's address to validator.swagger.io) is off,
ReDoc uses the system fonts instead of Google Fonts, and a Content-Security-Policy lets the pages load
from the gateway only - so the Redocly logo ReDoc's menu always fetches from cdn.redoc.ly is never
asked for (the link to Redocly stays, without the image).

Like ``/openapi.json``, the pages and their assets need no authentication.
"""

from __future__ import annotations

import base64
import hashlib
import re
from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

DOCS_URL = "/docs"
REDOC_URL = "/redoc"
ASSETS_URL = "/docs/assets"
OAUTH2_REDIRECT_URL = "/docs/oauth2-redirect"

#: The bundles, in the installed package (a plain directory: it installs as a wheel, never zipped).
ASSETS_DIR = Path(str(files("fastapi_offline").joinpath("static")))
SWAGGER_JS = "swagger-ui-bundle.js"
SWAGGER_CSS = "swagger-ui.css"
REDOC_JS = "redoc.standalone.js"
FAVICON = "favicon.png"

#: Passed to Swagger UI over FastAPI's defaults. ``validatorUrl: null``: no badge fetched from
#: validator.swagger.io (it would also tell that host where this gateway's document is).
SWAGGER_UI_PARAMETERS = {"validatorUrl": None}

#: The pages load from the gateway only. Inline styles: both UIs set them; ``data:`` images: Swagger UI's
#: icons; ``blob:`` workers: ReDoc's search. Inline scripts are allowed by their hash (Swagger UI's set-up).
CSP = (
    "default-src 'none'; script-src 'self'{hashes}; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "font-src 'self' data:; connect-src 'self'; worker-src blob:; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'self'"
)
_INLINE_SCRIPT = re.compile(rb"<script>(.*?)</script>", re.DOTALL)


def _confined(page: HTMLResponse) -> HTMLResponse:
    """``page`` with the Content-Security-Policy that keeps it on the gateway."""
    hashes = "".join(
        f" 'sha256-{base64.b64encode(hashlib.sha256(script).digest()).decode()}'"
        for script in _INLINE_SCRIPT.findall(bytes(page.body))
    )
    page.headers["Content-Security-Policy"] = CSP.format(hashes=hashes)
    return page


def install_docs(app: FastAPI) -> None:
    """Serve ``/docs``, ``/docs/oauth2-redirect``, ``/redoc`` and their assets; ``app`` is built with
    ``docs_url=None, redoc_url=None`` (FastAPI's CDN pages off)."""
    missing = [
        name for name in (SWAGGER_JS, SWAGGER_CSS, REDOC_JS, FAVICON) if not (ASSETS_DIR / name).is_file()
    ]
    if missing:  # a fastapi-offline release that moved its files: say so at start, not as a blank page
        raise RuntimeError(f"fastapi-offline ships no {', '.join(missing)} in {ASSETS_DIR}")
    assert app.openapi_url is not None
    openapi_url = app.openapi_url
    app.mount(ASSETS_URL, StaticFiles(directory=ASSETS_DIR), name="docs-assets")

    def prefix(request: Request) -> str:
        return str(request.scope.get("root_path", "")).rstrip("/")

    @app.get(DOCS_URL, include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = prefix(request)
        page = get_swagger_ui_html(
            openapi_url=root + openapi_url,
            title=f"{app.title} - Swagger UI",
            swagger_js_url=f"{root}{ASSETS_URL}/{SWAGGER_JS}",
            swagger_css_url=f"{root}{ASSETS_URL}/{SWAGGER_CSS}",
            swagger_favicon_url=f"{root}{ASSETS_URL}/{FAVICON}",
            oauth2_redirect_url=root + OAUTH2_REDIRECT_URL,
            init_oauth=app.swagger_ui_init_oauth,
            swagger_ui_parameters={**(app.swagger_ui_parameters or {}), **SWAGGER_UI_PARAMETERS},
        )
        return _confined(page)

    @app.get(OAUTH2_REDIRECT_URL, include_in_schema=False)
    async def swagger_ui_oauth2_redirect() -> HTMLResponse:
        return _confined(get_swagger_ui_oauth2_redirect_html())

    @app.get(REDOC_URL, include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        root = prefix(request)
        page = get_redoc_html(
            openapi_url=root + openapi_url,
            title=f"{app.title} - ReDoc",
            redoc_js_url=f"{root}{ASSETS_URL}/{REDOC_JS}",
            redoc_favicon_url=f"{root}{ASSETS_URL}/{FAVICON}",
            with_google_fonts=False,
        )
        return _confined(page)
