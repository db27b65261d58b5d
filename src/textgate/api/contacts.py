"""``/v1/contacts`` and ``/v1/groups``: the account's address book, and CSV import into it.

Design choices:

* Routes only translate: every rule (tenancy, duplicates, number formats) lives in
  :mod:`textgate.service.contacts` and :mod:`textgate.service.contact_import`, which the CLI and the
  Text-Connect dialect share, so the three surfaces cannot drift apart.
* ``PATCH`` changes only the fields present in the body; ``"email": null`` removes the address (an
  absent ``email`` keeps it), and ``groups`` replaces the contact's groups.
* ``POST /v1/contacts/import`` takes the CSV either raw (``Content-Type: text/csv``, options in the query,
  the natural form for ``curl --data-binary @file.csv``) or wrapped in JSON (``{"csv": ...}``, for clients
  that only speak JSON). The whole file is one transaction: it is imported entirely or not at all.
* Bulk deletes (all contacts, emptying a group) answer 200 with how many went, since that count is the
  only thing the caller cannot know beforehand; deleting one thing answers 204.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field
from pydantic import ValidationError as PydanticValidationError
from sqlalchemy import Connection

from textgate.api.deps import CurrentAccount, now_of, run_db
from textgate.domain.clock import isoformat
from textgate.domain.errors import ValidationError
from textgate.service import contacts as svc
from textgate.service.contact_import import ImportReport, import_contacts_csv

router = APIRouter(prefix="/v1", tags=["contacts"])

Limit = Annotated[int, Query(ge=1, le=svc.PAGE_MAX, description="Items per page.")]
Cursor = Annotated[str | None, Query(max_length=200, description="The `next_cursor` of the previous page.")]


def contact_view(c: svc.Contact) -> dict[str, Any]:
    return {
        "id": c.id,
        "object": "contact",
        "name": c.name,
        "number": c.number,
        "email": c.email,
        "groups": list(c.groups),
        "created_at": isoformat(c.created_at),
    }


def group_view(g: svc.Group) -> dict[str, Any]:
    return {
        "id": g.id,
        "object": "group",
        "name": g.name,
        "members": g.members,
        "created_at": isoformat(g.created_at),
    }


def page(items: list[dict[str, Any]], next_cursor: str | None) -> dict[str, Any]:
    return {"data": items, "next_cursor": next_cursor}


# -- bodies --------------------------------------------------------------------------------------------
class CreateContact(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(max_length=svc.NAME_MAX, examples=["Ada Lovelace"])
    number: str = Field(
        max_length=64,
        examples=["+15550000001"],
        description="E.164, international digits, or a national number in the account's region.",
    )
    email: str | None = Field(default=None, max_length=svc.EMAIL_MAX, examples=["ada@example.com"])
    groups: list[str] = Field(
        default_factory=list,
        examples=[["customers"]],
        description="Group names; groups that do not exist yet are created.",
    )


class UpdateContact(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(default=None, max_length=svc.NAME_MAX)
    number: str | None = Field(default=None, max_length=64)
    email: str | None = Field(
        default=None, max_length=svc.EMAIL_MAX, description="null removes the address; absent keeps it."
    )
    groups: list[str] | None = Field(default=None, description="Replaces the contact's groups.")


class ImportBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    csv: str = Field(
        description="Lines of name,number,email,group1,group2,...",
        examples=["Ada,+15550000001,ada@example.com,customers\nBob,+15550000002,,"],
    )
    ignore_dupes: bool = Field(default=False, description="Add lines even when the name or number exists.")
    overwrite_dupes: bool = Field(
        default=False, description="Overwrite the existing contact having the line's number."
    )


class CreateGroup(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(max_length=svc.GROUP_NAME_MAX, examples=["customers"])


class ContactIds(BaseModel):
    model_config = ConfigDict(extra="forbid")
    contact_ids: list[str] = Field(max_length=100_000, examples=[["con_6K9u85rRvcS9qSkVN4ECZR"]])


# -- contacts ------------------------------------------------------------------------------------------
@router.get("/contacts", summary="List contacts (paged), optionally by group or a search term")
async def list_contacts(
    request: Request,
    account: CurrentAccount,
    limit: Limit = 100,
    cursor: Cursor = None,
    group: str | None = Query(None, max_length=200, description="Only members of the group with this name."),
    search: str | None = Query(None, max_length=200, description="A part of the name or the number."),
) -> dict[str, Any]:
    def _list(conn: Connection) -> dict[str, Any]:
        items, nxt = svc.list_contacts(conn, account, limit=limit, cursor=cursor, group=group, search=search)
        return page([contact_view(c) for c in items], nxt)

    return await run_db(request, _list)


@router.post("/contacts", status_code=201, summary="Add a contact")
async def create_contact(body: CreateContact, request: Request, account: CurrentAccount) -> dict[str, Any]:
    now = now_of(request)

    def _create(conn: Connection) -> dict[str, Any]:
        contact = svc.create_contact(
            conn, account, body.name, body.number, email=body.email, groups=body.groups, now=now
        )
        return contact_view(contact)

    return await run_db(request, _create)


@router.delete("/contacts", summary="Delete every contact (groups stay)")
async def delete_all_contacts(request: Request, account: CurrentAccount) -> dict[str, int]:
    deleted = await run_db(request, lambda conn: svc.delete_all_contacts(conn, account))
    return {"deleted": deleted}


_IMPORT_DOC: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "text/csv": {"schema": {"type": "string"}, "example": "Ada,+15550000001,ada@example.com,vip\n"},
            "application/json": {"schema": ImportBody.model_json_schema()},
        },
    }
}


async def _import_input(request: Request, ignore_dupes: bool, overwrite_dupes: bool) -> ImportBody:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    raw = await request.body()
    if content_type == "application/json" or content_type.endswith("+json"):
        try:
            return ImportBody.model_validate_json(raw)
        except PydanticValidationError as exc:
            # Answered like any schema error of a JSON body: 422 naming the field.
            raise RequestValidationError(
                [{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_url=False)]
            ) from exc
    # Anything else is the CSV itself: curl --data-binary sends form-urlencoded unless told otherwise.
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValidationError(f"the CSV is not UTF-8 text (byte {exc.start})", field="csv") from exc
    return ImportBody(csv=text, ignore_dupes=ignore_dupes, overwrite_dupes=overwrite_dupes)


def import_view(report: ImportReport) -> dict[str, Any]:
    counts: dict[str, int] = {}
    for line in report.lines:
        counts[line.outcome] = counts.get(line.outcome, 0) + 1
    return {
        "added": report.added,
        "updated": report.updated,
        "counts": counts,
        "lines": [{"line": x.line, "outcome": x.outcome, "reasons": list(x.reasons)} for x in report.lines],
    }


@router.post(
    "/contacts/import",
    summary="Import contacts from CSV lines (name,number,email,group1,...)",
    openapi_extra=_IMPORT_DOC,
)
async def import_contacts(
    request: Request,
    account: CurrentAccount,
    ignore_dupes: bool = Query(False, description="For a text/csv body: add duplicates anyway."),
    overwrite_dupes: bool = Query(False, description="For a text/csv body: overwrite by number."),
) -> dict[str, Any]:
    body = await _import_input(request, ignore_dupes, overwrite_dupes)
    now = now_of(request)

    def _import(conn: Connection) -> ImportReport:
        return import_contacts_csv(
            conn,
            account,
            body.csv,
            ignore_dupes=body.ignore_dupes,
            overwrite_dupes=body.overwrite_dupes,
            now=now,
        )

    return import_view(await run_db(request, _import))


@router.get("/contacts/{contact_id}", summary="One contact")
async def get_contact(contact_id: str, request: Request, account: CurrentAccount) -> dict[str, Any]:
    return await run_db(request, lambda conn: contact_view(svc.get_contact(conn, account, contact_id)))


@router.patch("/contacts/{contact_id}", summary="Change a contact's name, number, email or groups")
async def update_contact(
    contact_id: str, body: UpdateContact, request: Request, account: CurrentAccount
) -> dict[str, Any]:
    now = now_of(request)
    changes: dict[str, Any] = {k: getattr(body, k) for k in ("name", "number", "groups")}
    if "email" in body.model_fields_set:
        changes["email"] = body.email
    for key in ("name", "number"):
        if key in body.model_fields_set and changes[key] is None:
            raise ValidationError(f"{key} cannot be removed", field=key)

    def _update(conn: Connection) -> dict[str, Any]:
        return contact_view(svc.update_contact(conn, account, contact_id, now=now, **changes))

    return await run_db(request, _update)


@router.delete("/contacts/{contact_id}", status_code=204, response_class=Response, summary="Delete a contact")
async def delete_contact(contact_id: str, request: Request, account: CurrentAccount) -> Response:
    await run_db(request, lambda conn: svc.delete_contact(conn, account, contact_id))
    return Response(status_code=204)


# -- groups --------------------------------------------------------------------------------------------
@router.get("/groups", tags=["groups"], summary="All groups by name, with member counts")
async def list_groups(request: Request, account: CurrentAccount) -> dict[str, Any]:
    groups = await run_db(request, lambda conn: svc.list_groups(conn, account))
    return {"data": [group_view(g) for g in groups]}


@router.post("/groups", status_code=201, tags=["groups"], summary="Create an empty group")
async def create_group(body: CreateGroup, request: Request, account: CurrentAccount) -> dict[str, Any]:
    now = now_of(request)
    group = await run_db(request, lambda conn: svc.create_group(conn, account, body.name, now=now))
    return group_view(group)


@router.get("/groups/{group_id}", tags=["groups"], summary="One group")
async def get_group(group_id: str, request: Request, account: CurrentAccount) -> dict[str, Any]:
    return await run_db(request, lambda conn: group_view(svc.get_group(conn, account, group_id)))


@router.delete(
    "/groups/{group_id}",
    status_code=204,
    response_class=Response,
    tags=["groups"],
    summary="Delete a group (its contacts stay)",
)
async def delete_group(group_id: str, request: Request, account: CurrentAccount) -> Response:
    await run_db(request, lambda conn: svc.delete_group(conn, account, group_id))
    return Response(status_code=204)


@router.get("/groups/{group_id}/members", tags=["groups"], summary="The group's contacts (paged)")
async def list_members(
    group_id: str,
    request: Request,
    account: CurrentAccount,
    limit: Limit = 100,
    cursor: Cursor = None,
) -> dict[str, Any]:
    def _list(conn: Connection) -> dict[str, Any]:
        items, nxt = svc.group_members(conn, account, group_id, limit=limit, cursor=cursor)
        return page([contact_view(c) for c in items], nxt)

    return await run_db(request, _list)


@router.post("/groups/{group_id}/members", tags=["groups"], summary="Add contacts to the group")
async def add_members(
    group_id: str, body: ContactIds, request: Request, account: CurrentAccount
) -> dict[str, int]:
    added = await run_db(request, lambda conn: svc.add_to_group(conn, account, group_id, body.contact_ids))
    return {"added": added}


@router.post("/groups/{group_id}/members/remove", tags=["groups"], summary="Take contacts out of the group")
async def remove_members(
    group_id: str, body: ContactIds, request: Request, account: CurrentAccount
) -> dict[str, int]:
    removed = await run_db(
        request, lambda conn: svc.remove_from_group(conn, account, group_id, body.contact_ids)
    )
    return {"removed": removed}


@router.delete("/groups/{group_id}/members", tags=["groups"], summary="Empty the group (contacts stay)")
async def empty_group(group_id: str, request: Request, account: CurrentAccount) -> dict[str, int]:
    removed = await run_db(request, lambda conn: svc.empty_group(conn, account, group_id))
    return {"removed": removed}
