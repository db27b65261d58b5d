"""Mail merge: ``{{field}}`` placeholders in the text of a group or list send, filled per recipient.

Syntax: ``{{name}}`` — two braces, a field name, two braces; spaces inside are allowed
(``{{ first_name }}``) and names are case-insensitive. Anything else with braces is plain text, so
``{price}`` or ``{{ 5 }}`` go out as written. A placeholder that names no field of the target is an
error at acceptance, never a blank in a sent message; a field the recipient has no value for (a
contact without an email) is filled with nothing.

Fields of a **group** send (its contacts): ``name``, ``first_name`` (the name's first word), ``number``,
``email``. Fields of a **list** send (its entries): the same, plus ``mm1`` … ``mm5`` (the entry's
mail-merge values) and each of the list's ``field_names`` (``{{City}}`` when the list labels MM1 "City").
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence

_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z][A-Za-z0-9_ ]*?)\s*\}\}")
CONTACT_FIELDS = ("name", "first_name", "number", "email")
MM_FIELDS = tuple(f"mm{i}" for i in range(1, 6))


def key(name: str) -> str:
    """How a field name is matched: case-insensitive, inner runs of spaces as one."""
    return " ".join(name.split()).casefold()


def placeholders(body: str) -> list[str]:
    """The field names the text's placeholders use, in order of first use, as written."""
    seen: dict[str, str] = {}
    for m in _PLACEHOLDER.finditer(body):
        seen.setdefault(key(m.group(1)), m.group(1))
    return list(seen.values())


def known_fields(field_names: Sequence[str] | None) -> list[str]:
    """Every field a send can use: a group's (``field_names`` None) or a list's with those labels."""
    if field_names is None:
        return list(CONTACT_FIELDS)
    return [
        *CONTACT_FIELDS,
        *MM_FIELDS,
        *(n for n in field_names if key(n) not in {*CONTACT_FIELDS, *MM_FIELDS}),
    ]


def unknown(body: str, fields: Iterable[str]) -> list[str]:
    known = {key(f) for f in fields}
    return [p for p in placeholders(body) if key(p) not in known]


def values_of(
    *,
    name: str | None,
    number: str,
    email: str | None,
    mm: Sequence[str] = (),
    field_names: Sequence[str] = (),
) -> dict[str, str]:
    """One recipient's values by field key."""
    out = {
        "name": name or "",
        "first_name": (name or "").split(" ", 1)[0] if name else "",
        "number": number,
        "email": email or "",
    }
    for i, field in enumerate(MM_FIELDS):
        out[field] = mm[i] if i < len(mm) and mm[i] is not None else ""
    for i, label in enumerate(field_names[: len(MM_FIELDS)]):
        out.setdefault(key(label), out[MM_FIELDS[i]])
    return out


def render(body: str, values: Mapping[str, str]) -> str:
    """The text with every placeholder replaced by the recipient's value (unknown ones stay as written)."""
    return _PLACEHOLDER.sub(lambda m: values.get(key(m.group(1)), m.group(0)), body)
