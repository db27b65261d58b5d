"""``GET /l/{code}``: a tracked link (service/links.py). A visit is recorded and answered with a redirect
to the original address; ``HEAD`` (link previews, checkers) redirects without counting."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import RedirectResponse, Response

from textgate.api.deps import now_of, run_db
from textgate.domain.errors import NotFound
from textgate.service import links

router = APIRouter(tags=["Tracked links"])
#: The address is the account's own text; the answer must not be cached, or later visits go uncounted.
HEADERS = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}


@router.head("/l/{code}", include_in_schema=False)
@router.get(
    "/l/{code}",
    summary="Follow a tracked link",
    response_class=RedirectResponse,
    status_code=302,
    responses={404: {"description": "No such link."}},
)
async def follow(request: Request, code: str) -> Response:
    """Redirects (302) to the link's original address; a GET records a click and queues the
    ``message.clicked`` webhook event."""
    if len(code) != links.CODE_LENGTH or not code.isalnum() or not code.isascii():
        return Response("no such link\n", status_code=404, media_type="text/plain", headers=HEADERS)
    now = now_of(request)
    agent = request.headers.get("user-agent")
    try:
        if request.method == "HEAD":
            url = await run_db(request, lambda conn: links.target(conn, code))
        else:
            url = await run_db(
                request, lambda conn: links.record_click(conn, code, user_agent=agent, now=now)
            )
    except NotFound:
        return Response("no such link\n", status_code=404, media_type="text/plain", headers=HEADERS)
    if request.method == "GET":
        gateway = getattr(request.app.state, "gateway", None)
        if gateway is not None:
            gateway.nudge_webhooks()
    return RedirectResponse(url, status_code=302, headers=HEADERS)


def install_links(app: FastAPI, base_url: str) -> None:
    links.configure(base_url)
    app.include_router(router)
