"""The ASGI application: native API, health and metrics, and (later) the provider dialects and dashboard,
all on one port. The lifespan prepares the database and runs the gateway's workers."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy import Engine, insert, text, update

import textgate
from textgate.api import native, platform, webhooks
from textgate.api.errors import install_error_handlers
from textgate.api.responses import FastJSONResponse
from textgate.bootstrap import Gateway, prepare_database
from textgate.config import Settings
from textgate.domain.clock import Clock, utcnow
from textgate.providers.base import CallbackRequest, Health
from textgate.providers.registry import error_renderers, install_dialects
from textgate.routing.router import Router
from textgate.store.batch import TransactionBatcher
from textgate.store.db import make_engine, run_sync
from textgate.web.dashboard import install_dashboard
from textgate.web.docs import install_docs
from textgate.web.limits import BodySizeLimit, RelativeSlashRedirects, TextCheck
from textgate.web.links import install_links
from textgate.web.metrics import QueueCounts, remove_owned_dir, render
from textgate.web.processes import HOP_BY_HOP, ApiProcesses, nudge_parent
from textgate.webhooks import secrets as webhook_secrets

DESCRIPTION = """
textgate's native API. Authenticate with `Authorization: Bearer <secret>` or HTTP Basic `key_id:secret`.
Errors are `{"error": {"code", "message", "field"}}`; `code` is one of textgate's error kinds.
"""


def _ping(engine: Engine) -> None:
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))


#: The row ``/healthz`` writes to prove the write path works (in ``rate_buckets``, a key no limiter uses).
HEALTH_ROW = "textgate:healthz"


def _write_probe(engine: Engine) -> None:
    from sqlalchemy.exc import IntegrityError

    from textgate.store.schema import rate_buckets

    now = time.time()
    b = rate_buckets.c
    try:
        with engine.begin() as conn:
            done = conn.execute(update(rate_buckets).where(b.key == HEALTH_ROW).values(stamp=now)).rowcount
            if not done:
                conn.execute(insert(rate_buckets).values(key=HEALTH_ROW, tokens=0.0, stamp=now, granted=0))
    except IntegrityError:
        pass  # another node wrote the row first: its write went through, and so did ours up to here


def create_app(
    settings: Settings | None = None,
    *,
    engine: Engine | None = None,
    clock: Clock = utcnow,
    workers: bool | None = None,
    api_processes: ApiProcesses | None = None,
    forward: str | None = None,
) -> FastAPI:
    """The gateway's ASGI app. ``api_processes``: children to start once the gateway runs (this process
    then answers only what they pass on); ``forward``: this is such a child, and ``/healthz`` and provider
    callbacks go to the parent at that URL (see web/processes.py)."""
    settings = settings or Settings()
    webhook_secrets.configure(settings.secret_key)
    engine = engine or make_engine(settings.database_url, synchronous=settings.sqlite_synchronous)
    run_workers = settings.run_workers if workers is None else workers

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await run_sync(engine, prepare_database, engine)
        gateway = Gateway(settings=settings, engine=engine, clock=clock)
        if forward is not None:
            gateway.on_nudge = nudge_parent
        await gateway.start(workers=run_workers)
        app.state.gateway = gateway
        if api_processes is not None:
            await api_processes.start(on_nudge=gateway.nudge)
        try:
            yield
        finally:
            if api_processes is not None:
                await api_processes.stop()
            await gateway.stop()
            if api_processes is not None:  # uvicorn ends the process by the signal it got: now, not later
                remove_owned_dir()

    async def to_parent(request: Request) -> Response:
        """Pass a request that needs the running connectors on to the parent ``serve``."""
        assert forward is not None
        http = request.app.state.gateway.http
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP}
        try:
            answer = await http.request(
                request.method,
                forward + request.url.path,
                params=request.query_params,
                headers=headers,
                content=await request.body(),
            )
        except httpx.HTTPError as exc:
            return Response(f"the gateway's workers cannot be reached: {exc}", 503, media_type="text/plain")
        kept = {k: v for k, v in answer.headers.items() if k.lower() not in (*HOP_BY_HOP, "content-length")}
        return Response(answer.content, answer.status_code, headers=kept)

    app = FastAPI(
        title="textgate",
        version=textgate.__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        default_response_class=FastJSONResponse,
        docs_url=None,  # FastAPI's pages load Swagger UI and ReDoc from a CDN: web/docs.py serves them
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.forward = forward  # an API process: the parent serve's URL (the dashboard asks it too)
    app.state.engine = engine
    app.state.clock = clock
    app.state.gateway = None
    app.state.batcher = TransactionBatcher(engine)
    install_error_handlers(app)
    install_docs(app)
    install_dashboard(app)
    install_links(app, settings.short_link_url or settings.public_url)
    app.include_router(native.router)
    app.include_router(webhooks.router)
    app.include_router(platform.router)
    app.state.dialects = install_dialects(app)

    @app.get("/healthz", tags=["operations"], summary="Liveness and database reachability")
    async def healthz(request: Request) -> Response:
        if forward is not None:
            return await to_parent(request)

        body: dict[str, Any] = {"status": "ok", "version": textgate.__version__}
        try:
            await run_sync(engine, _ping, engine)
            body["database"] = "ok"
        except Exception as exc:  # report, don't raise: this is the health endpoint
            body.update(status="degraded", database=f"error: {type(exc).__name__}")
        else:
            # Reading is not enough: a full disk (or a read-only file) fails every send while SELECT 1
            # still works. One tiny committed write says whether accepting would.
            try:
                await run_sync(engine, _write_probe, engine)
                body["writes"] = "ok"
            except Exception as exc:
                body.update(status="degraded", writes=f"error: {type(exc).__name__}: {str(exc)[:200]}")
        gateway = request.app.state.gateway
        if gateway is not None and gateway.connector is not None and gateway.running:
            # Every carrier connector's health by name; with routing, also the routes and the breakers.
            health = gateway.connector.health()
            body["connectors"] = {name: c.health().value for name, c in gateway.connectors().items()}
            if isinstance(gateway.connector, Router):
                body["routing"] = gateway.connector.view()
            if health is Health.DOWN:
                body["status"] = "degraded"
        return JSONResponse(body, status_code=200 if body["status"] == "ok" else 503)

    async def connector_callback(name: str, request: Request) -> Response:
        if forward is not None:
            return await to_parent(request)
        gateway = request.app.state.gateway
        if gateway is None or not gateway.running:
            return Response(
                "the gateway is not running its connectors", status_code=503, media_type="text/plain"
            )
        connector = gateway.connectors().get(name)
        if connector is None:
            return Response(f"no connector named {name!r}", status_code=404, media_type="text/plain")
        answer = await connector.callback(
            CallbackRequest(
                method=request.method,
                query=dict(request.query_params),
                headers={k.lower(): v for k, v in request.headers.items()},
                body=await request.body(),
            )
        )
        return Response(answer.body, status_code=answer.status_code, media_type=answer.content_type)

    for method in ("GET", "POST"):  # one operation per method, so each has its own OpenAPI id
        app.add_api_route(
            "/callbacks/{name}",
            connector_callback,
            methods=[method],
            operation_id=f"connector_callback_{method.lower()}",
            tags=["operations"],
            summary="Delivery reports and inbound messages from an upstream provider, to the named connector",
        )

    queue_counts = QueueCounts(engine)

    @app.get("/metrics", tags=["operations"], summary="Prometheus metrics")
    async def metrics() -> Response:
        body, media_type = await render(queue_counts)
        return Response(body, media_type=media_type)

    app.add_middleware(RelativeSlashRedirects)
    app.add_middleware(TextCheck, renderers=error_renderers())  # inside the size limit: bodies are bounded
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_request_bytes, renderers=error_renderers())
    return app
