"""A minimal FastAPI route for ``bare_asgi.py --app fastapi``: what the framework alone costs.

A pydantic body model like textgate's ``SendBody``, one header dependency, a ``JSONResponse`` with the
baseline's answer; no middleware and no database. (No ``from __future__ import annotations`` here:
FastAPI has to resolve the annotations of the route's locally defined types at runtime.)
"""

import json
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field


class SendBody(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    from_: str = Field(alias="from", max_length=64)
    to: str | list[str]
    body: str = ""


def bearer(authorization: Annotated[str | None, Header()] = None) -> str:
    return (authorization or "").removeprefix("Bearer ")


def create_app(answer: bytes) -> FastAPI:
    api = FastAPI()
    content: Any = json.loads(answer)

    @api.post("/v1/messages", status_code=202)
    async def create_message(payload: SendBody, secret: Annotated[str, Depends(bearer)]) -> JSONResponse:
        return JSONResponse(content, status_code=202)

    return api
