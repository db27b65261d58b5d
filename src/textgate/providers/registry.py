"""Provider dialects are found, not listed: every ``textgate.providers.<name>`` package with a
``dialect`` module exposing ``router`` (a FastAPI ``APIRouter``) is served by ``textgate serve``. A new
provider is one new folder."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable

from fastapi import APIRouter, FastAPI
from starlette.responses import Response

import textgate.providers
from textgate.domain.errors import TextgateError


def dialect_routers() -> dict[str, APIRouter]:
    routers: dict[str, APIRouter] = {}
    for info in sorted(pkgutil.iter_modules(textgate.providers.__path__), key=lambda i: i.name):
        if not info.ispkg:
            continue
        try:
            module = importlib.import_module(f"textgate.providers.{info.name}.dialect")
        except ModuleNotFoundError as exc:
            if exc.name == f"textgate.providers.{info.name}.dialect":
                continue  # a connector-only provider (e.g. the simulator)
            raise
        router = getattr(module, "router", None)
        if isinstance(router, APIRouter):
            routers[info.name] = router
    return routers


ErrorRenderer = Callable[[str, TextgateError], Response]


def error_renderers() -> list[tuple[tuple[str, ...], ErrorRenderer]]:
    """Per dialect, its lower-case path prefixes and how it answers an error raised before its routes
    run (``ERROR_PATHS`` and ``render_error`` in its ``dialect`` module)."""
    out: list[tuple[tuple[str, ...], ErrorRenderer]] = []
    for name in dialect_routers():
        module = importlib.import_module(f"textgate.providers.{name}.dialect")
        paths = getattr(module, "ERROR_PATHS", None)
        render = getattr(module, "render_error", None)
        if paths and callable(render):
            out.append((tuple(paths), render))
    return out


def install_dialects(app: FastAPI) -> list[str]:
    routers = dialect_routers()
    for router in routers.values():
        app.include_router(router)
    return list(routers)
