"""``/v1/lists``: distribution lists, whose entries carry up to five mail-merge values.

The rules (numbers once per list, adding an existing number updates it, all-or-nothing validation) are in
:mod:`textgate.service.lists`; the routes translate. An entry's ``fields`` are its values in the order of
the list's ``field_names``; the view also pairs them up in ``merge`` so a client need not.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Connection

from textgate.api.contacts import page
from textgate.api.deps import CurrentAccount, now_of, run_db
from textgate.domain.clock import isoformat
from textgate.service import lists as svc
from textgate.service.contacts import PAGE_MAX

router = APIRouter(prefix="/v1/lists", tags=["lists"])


def list_view(d: svc.DistList) -> dict[str, Any]:
    return {
        "id": d.id,
        "object": "list",
        "name": d.name,
        "field_names": list(d.field_names),
        "size": d.size,
        "created_at": isoformat(d.created_at),
    }


def entry_view(e: svc.ListEntry, field_names: tuple[str, ...]) -> dict[str, Any]:
    return {
        "number": e.number,
        "name": e.name,
        "email": e.email,
        "fields": list(e.fields),
        "merge": dict(zip(field_names, e.fields, strict=False)),
        "created_at": isoformat(e.created_at),
    }


class CreateList(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(max_length=svc.LIST_NAME_MAX, examples=["march-promo"])
    field_names: list[str] = Field(
        default_factory=list,
        max_length=svc.MAX_FIELDS,
        examples=[["first_name", "balance"]],
        description="Labels of the mail-merge fields MM1..MM5 (at most five).",
    )


class EntryIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    number: str = Field(max_length=64, examples=["+15550000001"])
    name: str | None = Field(default=None, max_length=200, examples=["Ada"])
    email: str | None = Field(default=None, max_length=320)
    fields: list[str] = Field(
        default_factory=list,
        max_length=svc.MAX_FIELDS,
        examples=[["Ada", "42.00"]],
        description="Values in the order of the list's field_names.",
    )


class AddEntries(BaseModel):
    model_config = ConfigDict(extra="forbid")
    entries: list[EntryIn] = Field(max_length=100_000)


@router.get("", summary="All distribution lists by name, with their sizes")
async def list_lists(request: Request, account: CurrentAccount) -> dict[str, Any]:
    found = await run_db(request, lambda conn: svc.list_lists(conn, account))
    return {"data": [list_view(d) for d in found]}


@router.post("", status_code=201, summary="Create an empty distribution list")
async def create_list(body: CreateList, request: Request, account: CurrentAccount) -> dict[str, Any]:
    now = now_of(request)
    made = await run_db(
        request, lambda conn: svc.create_list(conn, account, body.name, body.field_names, now=now)
    )
    return list_view(made)


@router.get("/{list_id}", summary="One distribution list")
async def get_list(list_id: str, request: Request, account: CurrentAccount) -> dict[str, Any]:
    return await run_db(request, lambda conn: list_view(svc.get_list(conn, account, list_id)))


@router.delete(
    "/{list_id}", status_code=204, response_class=Response, summary="Delete a list and its entries"
)
async def delete_list(list_id: str, request: Request, account: CurrentAccount) -> Response:
    await run_db(request, lambda conn: svc.delete_list(conn, account, list_id))
    return Response(status_code=204)


@router.get("/{list_id}/entries", summary="The list's entries in the order they were added (paged)")
async def list_entries(
    list_id: str,
    request: Request,
    account: CurrentAccount,
    limit: Annotated[int, Query(ge=1, le=PAGE_MAX)] = 100,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> dict[str, Any]:
    def _list(conn: Connection) -> dict[str, Any]:
        found = svc.get_list(conn, account, list_id)
        items, nxt = svc.list_entries(conn, account, list_id, limit=limit, cursor=cursor)
        return page([entry_view(e, found.field_names) for e in items], nxt)

    return await run_db(request, _list)


@router.post("/{list_id}/entries", summary="Add entries; a number already in the list is updated")
async def add_entries(
    list_id: str, body: AddEntries, request: Request, account: CurrentAccount
) -> dict[str, int]:
    now = now_of(request)
    entries = [svc.ListEntryInput(e.number, e.name, e.email, tuple(e.fields)) for e in body.entries]
    added, updated = await run_db(
        request, lambda conn: svc.add_list_entries(conn, account, list_id, entries, now=now)
    )
    return {"added": added, "updated": updated}


@router.delete(
    "/{list_id}/entries/{number}",
    status_code=204,
    response_class=Response,
    summary="Remove a number from the list",
)
async def delete_entry(list_id: str, number: str, request: Request, account: CurrentAccount) -> Response:
    await run_db(request, lambda conn: svc.delete_list_entry(conn, account, list_id, number))
    return Response(status_code=204)
