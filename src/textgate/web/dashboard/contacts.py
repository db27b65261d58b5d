"""Contacts, groups and distribution lists (the CSV import page: contacts_import.py).

Pages (an operator adds ``?account=ID``; forms carry it in a hidden field):

* ``/dashboard/contacts``: the address book (50 a page, cursor paging, search by name or number), the
  groups and the lists, and the forms that add a contact, a group or a list;
* ``/dashboard/contacts/groups/{id}``: a group's members, add one (by number or name), remove one;
* ``/dashboard/contacts/lists/{id}``: a list's entries with their mail-merge values, add or remove one;

Every form is POSTed with its CSRF token and answered with a 303 to the page it changed; a refused form
is shown again with 400 and the field marked.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import Connection

from textgate.api.deps import now_of, run_db
from textgate.domain.errors import Conflict, NotFound, TextgateError, ValidationError
from textgate.service.accounts import Account, get_account
from textgate.service.contacts import (
    add_to_group,
    create_contact,
    create_group,
    delete_contact,
    delete_group,
    get_group,
    group_members,
    list_contacts,
    list_groups,
    remove_from_group,
)
from textgate.service.dashboard_messages import find_contact
from textgate.service.lists import (
    ListEntryInput,
    add_list_entries,
    create_list,
    delete_list,
    delete_list_entry,
    get_list,
    list_entries,
    list_lists,
)
from textgate.web.dashboard.common import account_of, checked_form, render, router, viewer_of
from textgate.web.dashboard.session import Session, Sessions

T = TypeVar("T")

PAGE = 50
DONE = {
    "contact-added": "Contact added.",
    "contact-deleted": "Contact deleted.",
    "group-added": "Group added.",
    "group-deleted": "Group deleted.",
    "list-added": "List added.",
    "list-deleted": "List deleted.",
    "member-added": "Member added.",
    "member-removed": "Member removed.",
    "entry-added": "Entry saved.",
    "entry-removed": "Entry removed.",
}
Viewer = tuple[Sessions, Session, dict[str, Any]]


# -- shared steps ---------------------------------------------------------------------------------------
class _Form:
    """A form's fields and errors, as its template shows them again."""

    def __init__(self, values: dict[str, str] | None = None) -> None:
        self.values = values or {}
        self.error: str | None = None
        self.field: str | None = None


def _suffix(viewer: dict[str, Any], account_id: str, **params: str) -> str:
    query = {**({"account": account_id} if viewer["kind"] == "operator" else {}), **params}
    query = {k: v for k, v in query.items() if v}
    return f"?{urlencode(query)}" if query else ""


def _redirect(viewer: dict[str, Any], account_id: str, path: str, done: str) -> Response:
    return RedirectResponse(f"{path}{_suffix(viewer, account_id, done=done)}", status_code=303)


def _show(request: Request, template: str, v: Viewer, *, status_code: int = 200, **context: Any) -> Response:
    sessions, session, viewer = v
    return render(request, template, sessions, session, viewer, status_code, **context)


def _not_found(request: Request, v: Viewer, what: str) -> Response:
    return _show(request, "notfound.html", v, status_code=404, what=what)


async def _in_account(request: Request, account_id: str, fn: Callable[[Connection, Account], T]) -> T:
    """``fn(conn, account)`` in one transaction; NotFound for an account id that is not one."""
    return await run_db(request, lambda conn: fn(conn, get_account(conn, account_id)))


def _field_of(exc: TextgateError, default: str) -> str:
    """The form field an error is about: ``entries[0].email`` is ``email``, ``...fields[2]`` is
    ``field2``, ``field_names[1]`` is ``field_names``."""
    field = (exc.field or default).rsplit(".", 1)[-1]
    if field.startswith("fields["):
        return "field" + field[len("fields[") :].rstrip("]")
    return field.split("[", 1)[0]


def _common(viewer: dict[str, Any], account_id: str) -> dict[str, Any]:
    return {"account": account_id if viewer["kind"] == "operator" else "", "account_id": account_id}


# -- the address book ---------------------------------------------------------------------------------
@router.get("/contacts")
async def contacts_page(
    request: Request, account: str = "", q: str = "", cursor: str = "", done: str = ""
) -> Response:
    v = await viewer_of(request)
    viewer = v[2]
    if viewer["kind"] == "operator" and not account:
        return _show(request, "contacts.html", v, account="", account_id=None, chosen=False)
    account_id = account_of(viewer, account)
    return await _contacts_page(request, v, account_id, q=q, cursor=cursor, done=done)


async def _contacts_page(
    request: Request,
    v: Viewer,
    account_id: str,
    *,
    q: str = "",
    cursor: str = "",
    done: str = "",
    forms: dict[str, _Form] | None = None,
    status_code: int = 200,
) -> Response:
    viewer = v[2]
    search_error = None

    def read(conn: Connection, account: Account) -> dict[str, Any]:
        nonlocal search_error
        try:
            page, next_cursor = list_contacts(
                conn, account, limit=PAGE, cursor=cursor or None, search=q or None
            )
        except ValidationError as exc:  # a search or cursor that cannot be: shown, with no contacts
            search_error, page, next_cursor = exc.message, [], None
        return {
            "contacts": page,
            "next_cursor": next_cursor,
            "groups": list_groups(conn, account),
            "lists": list_lists(conn, account),
        }

    try:
        data = await _in_account(request, account_id, read)
    except NotFound:
        return _not_found(request, v, f"account {account_id}")
    next_url = None
    if data["next_cursor"]:
        next_url = "/dashboard/contacts" + _suffix(viewer, account_id, q=q, cursor=data["next_cursor"])
    forms = forms or {}
    return _show(
        request,
        "contacts.html",
        v,
        status_code=400 if search_error and status_code == 200 else status_code,
        chosen=True,
        q=q,
        next_url=next_url,
        search_error=search_error,
        done=DONE.get(done),
        forms={name: forms.get(name) or _Form() for name in ("contact", "group", "list")},
        suffix=_suffix(viewer, account_id),
        **data,
        **_common(viewer, account_id),
    )


async def _posted(request: Request) -> tuple[Viewer, dict[str, str], str]:
    """The viewer, a POSTed form (its CSRF token checked) and the account it is for."""
    v = await viewer_of(request)
    form = await checked_form(request, v[0], v[1])
    return v, form, account_of(v[2], form.get("account") or None)


@router.post("/contacts")
async def add_contact(request: Request) -> Response:
    v, form, account_id = await _posted(request)
    now = now_of(request)
    groups = [g for g in (part.strip() for part in form.get("groups", "").split(",")) if g]

    def create(conn: Connection, account: Account) -> None:
        create_contact(
            conn,
            account,
            form.get("name", ""),
            form.get("number", ""),
            email=form.get("email") or None,
            groups=groups,
            now=now,
        )

    return await _change(
        request, v, account_id, create, "/dashboard/contacts", "contact-added", form_name="contact", form=form
    )


async def _change(
    request: Request,
    v: Viewer,
    account_id: str,
    fn: Callable[[Connection, Account], object],
    path: str,
    done: str,
    *,
    form_name: str,
    form: dict[str, str],
    default_field: str = "name",
    again: Callable[[dict[str, _Form]], Any] | None = None,
) -> Response:
    """Run a form's change; 303 to ``path`` when done, 404 for what is not the account's, else the page
    again with 400 and the field named (``again`` shows it; the address book by default)."""
    try:
        await _in_account(request, account_id, fn)
    except NotFound as exc:
        if exc.field in (None, "contact_ids", "contact_id", "group_id", "list_id", "account_id"):
            return _not_found(request, v, exc.message.split(" not found")[0])
        return await _refused(request, v, account_id, exc, form_name, form, default_field, again)
    except (ValidationError, Conflict) as exc:
        return await _refused(request, v, account_id, exc, form_name, form, default_field, again)
    return _redirect(v[2], account_id, path, done)


async def _refused(
    request: Request,
    v: Viewer,
    account_id: str,
    exc: TextgateError,
    form_name: str,
    form: dict[str, str],
    default_field: str,
    again: Callable[[dict[str, _Form]], Any] | None,
) -> Response:
    shown = _Form(form)
    shown.error, shown.field = exc.message, _field_of(exc, default_field)
    if again is not None:
        response: Response = await again({form_name: shown})
        return response
    return await _contacts_page(request, v, account_id, forms={form_name: shown}, status_code=400)


async def _delete(
    request: Request, what: str, fn: Callable[[Connection, Account, str], object], item_id: str
) -> Response:
    """The Delete button of a contact, a group or a list (``what``): back to the address book."""
    v, form, account_id = await _posted(request)

    def delete(conn: Connection, account: Account) -> object:
        return fn(conn, account, item_id)

    return await _change(
        request, v, account_id, delete, "/dashboard/contacts", f"{what}-deleted", form_name=what, form=form
    )


@router.post("/contacts/{contact_id}/delete")
async def remove_contact(request: Request, contact_id: str) -> Response:
    return await _delete(request, "contact", delete_contact, contact_id)


# -- a group's or a list's page -------------------------------------------------------------------------
@dataclass(frozen=True)
class _Paged:
    """A group's or a list's page: ``read(conn, account, id, cursor)`` gives the thing and a page of its
    items with ``next_cursor``; ``form`` is the name of the form the page has."""

    what: str
    path: str
    template: str
    form: str
    read: Callable[[Connection, Account, str, str | None], dict[str, Any]]


def _read_group(conn: Connection, account: Account, group_id: str, cursor: str | None) -> dict[str, Any]:
    group = get_group(conn, account, group_id)
    members, next_cursor = group_members(conn, account, group.id, limit=PAGE, cursor=cursor)
    return {"group": group, "members": members, "next_cursor": next_cursor}


def _read_list(conn: Connection, account: Account, list_id: str, cursor: str | None) -> dict[str, Any]:
    found = get_list(conn, account, list_id)
    entries, next_cursor = list_entries(conn, account, found.id, limit=PAGE, cursor=cursor)
    return {"dist_list": found, "entries": entries, "next_cursor": next_cursor}


GROUP_PAGE = _Paged("group", "/dashboard/contacts/groups", "group.html", "member", _read_group)
LIST_PAGE = _Paged("list", "/dashboard/contacts/lists", "list.html", "entry", _read_list)


async def _open_paged(
    request: Request, kind: _Paged, item_id: str, account: str, cursor: str, done: str
) -> Response:
    """The GET of a group's or a list's page; an operator who names no account finds nothing."""
    v = await viewer_of(request)
    if v[2]["kind"] == "operator" and not account:
        return _not_found(request, v, f"{kind.what} {item_id}")
    return await _paged_page(request, v, account_of(v[2], account), kind, item_id, cursor=cursor, done=done)


async def _paged_page(
    request: Request,
    v: Viewer,
    account_id: str,
    kind: _Paged,
    item_id: str,
    *,
    cursor: str = "",
    done: str = "",
    forms: dict[str, _Form] | None = None,
    status_code: int = 200,
) -> Response:
    """404 when the group or list is not the account's, 400 for a cursor that is not one."""
    viewer = v[2]
    try:
        data = await _in_account(
            request, account_id, lambda conn, account: kind.read(conn, account, item_id, cursor or None)
        )
    except NotFound:
        return _not_found(request, v, f"{kind.what} {item_id}")
    except ValidationError as exc:  # a cursor that is not one
        return _show(request, "notfound.html", v, status_code=400, what=exc.message)
    next_url = None
    if data["next_cursor"]:
        next_url = f"{kind.path}/{item_id}" + _suffix(viewer, account_id, cursor=data["next_cursor"])
    return _show(
        request,
        kind.template,
        v,
        status_code=status_code,
        next_url=next_url,
        done=DONE.get(done),
        form=(forms or {}).get(kind.form) or _Form(),
        suffix=_suffix(viewer, account_id),
        **data,
        **_common(viewer, account_id),
    )


# -- groups ---------------------------------------------------------------------------------------------
@router.post("/contacts/groups")
async def add_group(request: Request) -> Response:
    v, form, account_id = await _posted(request)
    now = now_of(request)

    def create(conn: Connection, account: Account) -> None:
        create_group(conn, account, form.get("name", ""), now=now)

    return await _change(
        request, v, account_id, create, "/dashboard/contacts", "group-added", form_name="group", form=form
    )


@router.get("/contacts/groups/{group_id}")
async def group_page(
    request: Request, group_id: str, account: str = "", cursor: str = "", done: str = ""
) -> Response:
    return await _open_paged(request, GROUP_PAGE, group_id, account, cursor, done)


@router.post("/contacts/groups/{group_id}/delete")
async def remove_group(request: Request, group_id: str) -> Response:
    return await _delete(request, "group", delete_group, group_id)


@router.post("/contacts/groups/{group_id}/members")
async def add_member(request: Request, group_id: str) -> Response:
    v, form, account_id = await _posted(request)
    wanted = form.get("contact", "")

    def add(conn: Connection, account: Account) -> None:
        group = get_group(conn, account, group_id)  # first: another account's group is 404
        if not wanted.strip():
            raise ValidationError("contact: enter a contact's number or name", field="contact")
        contact = find_contact(conn, account, wanted)
        if contact is None:
            raise ValidationError(
                f"contact: no contact has the number or name {wanted.strip()[:200]!r}", field="contact"
            )
        add_to_group(conn, account, group.id, [contact.id])

    def again(forms: dict[str, _Form]) -> Awaitable[Response]:
        return _paged_page(request, v, account_id, GROUP_PAGE, group_id, forms=forms, status_code=400)

    path = f"/dashboard/contacts/groups/{group_id}"
    return await _change(
        request,
        v,
        account_id,
        add,
        path,
        "member-added",
        form_name="member",
        form=form,
        default_field="contact",
        again=again,
    )


@router.post("/contacts/groups/{group_id}/members/remove")
async def remove_member(request: Request, group_id: str) -> Response:
    v, form, account_id = await _posted(request)
    contact_id = form.get("contact_id", "")

    def remove(conn: Connection, account: Account) -> None:
        group = get_group(conn, account, group_id)
        if not remove_from_group(conn, account, group.id, [contact_id]):
            raise NotFound(f"contact {contact_id!r} not found", field="contact_id")

    path = f"/dashboard/contacts/groups/{group_id}"
    return await _change(
        request, v, account_id, remove, path, "member-removed", form_name="member", form=form
    )


# -- distribution lists ---------------------------------------------------------------------------------
@router.post("/contacts/lists")
async def add_list(request: Request) -> Response:
    v, form, account_id = await _posted(request)
    now = now_of(request)
    fields = [f.strip() for f in form.get("field_names", "").split(",") if f.strip()]

    def create(conn: Connection, account: Account) -> None:
        create_list(conn, account, form.get("name", ""), fields, now=now)

    return await _change(
        request, v, account_id, create, "/dashboard/contacts", "list-added", form_name="list", form=form
    )


@router.get("/contacts/lists/{list_id}")
async def list_page(
    request: Request, list_id: str, account: str = "", cursor: str = "", done: str = ""
) -> Response:
    return await _open_paged(request, LIST_PAGE, list_id, account, cursor, done)


@router.post("/contacts/lists/{list_id}/delete")
async def remove_list(request: Request, list_id: str) -> Response:
    return await _delete(request, "list", delete_list, list_id)


@router.post("/contacts/lists/{list_id}/entries")
async def add_entry(request: Request, list_id: str) -> Response:
    v, form, account_id = await _posted(request)
    now = now_of(request)

    def add(conn: Connection, account: Account) -> None:
        found = get_list(conn, account, list_id)
        values = [form.get(f"field{i}", "") for i in range(len(found.field_names))]
        while values and not values[-1].strip():
            values.pop()
        entry = ListEntryInput(
            number=form.get("number", ""),
            name=form.get("name") or None,
            email=form.get("email") or None,
            fields=values,
        )
        add_list_entries(conn, account, found.id, [entry], now=now)

    def again(forms: dict[str, _Form]) -> Awaitable[Response]:
        return _paged_page(request, v, account_id, LIST_PAGE, list_id, forms=forms, status_code=400)

    path = f"/dashboard/contacts/lists/{list_id}"
    return await _change(
        request,
        v,
        account_id,
        add,
        path,
        "entry-added",
        form_name="entry",
        form=form,
        default_field="number",
        again=again,
    )


@router.post("/contacts/lists/{list_id}/entries/remove")
async def remove_entry(request: Request, list_id: str) -> Response:
    v, form, account_id = await _posted(request)
    number = form.get("number", "")

    def remove(conn: Connection, account: Account) -> None:
        found = get_list(conn, account, list_id)
        try:
            delete_list_entry(conn, account, found.id, number)
        except (NotFound, ValidationError):
            raise NotFound(f"entry {number!r} not found", field=None) from None

    path = f"/dashboard/contacts/lists/{list_id}"
    return await _change(request, v, account_id, remove, path, "entry-removed", form_name="entry", form=form)


# -- CSV import -----------------------------------------------------------------------------------------
