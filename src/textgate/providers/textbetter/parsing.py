"""Reading TextBetter's inputs into textgate's terms, before anything touches the database.

Why a module of its own: both APIs (v2 JSON and v1 querystring) take the same number format — an
11-digit, digits-only E.164 string such as ``15551230001`` — and TextBetter's document is explicit that
``+15551230001``, ``(555) 123-0001`` and ``555-123-0001`` are wrong. textgate's core would happily read
all three, so the stricter format is checked here, and the digits are then read as *international*
(``+`` prepended), never through the account's region: ``15551230001`` means ``+1 555 123 0001`` whatever
the account's home country.

Problems are collected rather than raised one at a time, so a developer sees everything wrong with a
request in one answer (the document's own MMS example has both an unassigned recipient and a placeholder
instead of base64, and both are reported together).
"""

from __future__ import annotations

import base64
import binascii
import mimetypes
import re
from dataclasses import dataclass, field
from typing import Any

from textgate.domain.errors import ValidationError
from textgate.domain.phone import normalize_number
from textgate.service.send import MAX_MEDIA_BYTES, MAX_MEDIA_ITEMS, MediaInput

#: TextBetter's number format: exactly eleven ASCII digits, country code first.
ELEVEN_DIGITS = re.compile(r"[0-9]{11}")
EXAMPLE = "15551230001"
#: Column widths of ``media_objects``; longer values would be a database error, not a clean answer.
MAX_FILENAME = 255
MAX_CONTENT_TYPE = 100

_MIME = re.compile(r"^[a-z0-9][a-z0-9.+-]*/[a-z0-9][a-z0-9.+-]*$")
_DATA_URI = re.compile(r"^data:([^;,]*)(?:;[^,]*)?;base64,", re.IGNORECASE)
_WHITESPACE = re.compile(r"\s+")
_NOT_VALID = "is not a valid phone number: "


@dataclass(slots=True)
class Problems:
    """What is wrong with a request, in the order it was found."""

    items: list[str] = field(default_factory=list)

    def add(self, text: str) -> None:
        self.items.append(text)

    def __bool__(self) -> bool:
        return bool(self.items)

    def text(self) -> str:
        return "; ".join(self.items)


def _format_hint(text: str) -> str:
    """What to change, shown with the caller's own digits when they are the right eleven."""
    digits = "".join(ch for ch in text if "0" <= ch <= "9")
    if re.fullmatch(r"\+?[0-9 ().\-]+", text):
        if len(digits) == 11:
            return f"write it as {digits} (digits only, no '+')"
        if len(digits) == 10:
            return f"put the country code first and write digits only, e.g. 1{digits}"
    return f"it must be exactly 11 digits, country code first, e.g. {EXAMPLE}"


def eleven_digits(raw: Any, name: str, problems: Problems) -> str | None:
    """``+`` and the 11 digits of a TextBetter number (``15551230001`` → ``+15551230001``), or None after
    recording why not. JSON numbers are taken as their digits (some clients send them unquoted)."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        problems.add(f"{name} is required (11 digits, e.g. {EXAMPLE})")
        return None
    if isinstance(raw, bool) or not isinstance(raw, str | int):
        problems.add(f"{name} must be a string of 11 digits, e.g. {EXAMPLE}")
        return None
    text = str(raw).strip()
    if not ELEVEN_DIGITS.fullmatch(text):
        shown = text if len(text) <= 40 else text[:40] + "..."
        problems.add(f"{name}: {shown!r} is not an 11-digit number: {_format_hint(text)}")
        return None
    return "+" + text


def recipient(raw: Any, name: str, problems: Problems) -> str | None:
    """A recipient in E.164, or None after recording why not: the 11-digit format first, then textgate's
    own number check (valid per libphonenumber, or in the fictional ``555`` ranges)."""
    e164 = eleven_digits(raw, name, problems)
    if e164 is None:
        return None
    try:
        return normalize_number(e164, field=name)
    except ValidationError as exc:
        reason = exc.message.rpartition(_NOT_VALID)[2] or exc.message
        problems.add(f"{name}: '{e164[1:]}' is not a valid phone number: {reason}")
        return None


def recipients(raw: Any, name: str, limit: int, problems: Problems) -> list[str]:
    """``toNumber``: an array of up to ``limit`` numbers (a lone string is taken as a one-element array)."""
    if raw is None:
        problems.add(f'{name} is required: an array of 11-digit numbers, e.g. ["{EXAMPLE}"]')
        return []
    items = [raw] if isinstance(raw, str | int) and not isinstance(raw, bool) else raw
    if not isinstance(items, list):
        problems.add(f'{name} must be an array of 11-digit numbers, e.g. ["{EXAMPLE}"]')
        return []
    if not items:
        problems.add(f"{name} must list at least one recipient")
        return []
    if len(items) > limit:
        problems.add(f"{name} lists {len(items)} numbers; at most {limit} per request")
        return []
    out = [recipient(item, f"{name}[{i}]", problems) for i, item in enumerate(items)]
    return [e164 for e164 in out if e164 is not None]


def text_field(raw: Any, name: str, problems: Problems) -> str:
    if raw is None:
        return ""
    if not isinstance(raw, str):
        problems.add(f"{name} must be a string")
        return ""
    return raw


def _string_array(raw: Any, name: str, problems: Problems) -> list[Any] | None:
    if raw is None:
        return None
    if isinstance(raw, str):
        return [raw]  # one attachment given as a bare string
    if not isinstance(raw, list):
        problems.add(f"{name} must be an array of strings")
        return None
    return raw


def _content_type(declared: Any, from_uri: str, filename: str | None, i: int, problems: Problems) -> str:
    name = f"contentTypes[{i}]"
    if declared is not None and not isinstance(declared, str):
        problems.add(f"{name} must be a string such as image/jpeg")
        return ""
    ctype = (declared or from_uri or (mimetypes.guess_type(filename)[0] if filename else None) or "").strip()
    ctype = ctype.lower()
    if not ctype:
        problems.add(f"{name} is required: the attachment's MIME type, such as image/jpeg")
    elif len(ctype) > MAX_CONTENT_TYPE or not _MIME.match(ctype):
        problems.add(f"{name}: {ctype[:40]!r} is not a MIME type such as image/jpeg")
    return ctype


def media(images: Any, content_types: Any, filenames: Any, problems: Problems) -> list[MediaInput]:
    """The v2 attachments: ``images`` (base64), ``contentTypes`` and ``filenames``, equal-length arrays
    where index *i* of each describes attachment *i*.

    Lenient where real clients differ and nothing is lost: whitespace and line breaks inside the base64
    (MIME-style wrapped output) are ignored, a ``data:<type>;base64,`` prefix is accepted, and a missing
    ``contentTypes`` is taken from the data URI or the file name's extension. Strict where it matters: the
    base64 must use the standard alphabet with correct padding (the document's placeholder
    ``BASE64_ENCODED_IMAGE`` contains ``_`` and is refused), and the decoded size is checked.
    """
    imgs = _string_array(images, "images", problems)
    types = _string_array(content_types, "contentTypes", problems)
    names = _string_array(filenames, "filenames", problems)
    if imgs is None:
        if types or names:
            problems.add("filenames/contentTypes were given without images (the base64 media content)")
        return []
    lengths = {"images": len(imgs)}
    if types is not None:
        lengths["contentTypes"] = len(types)
    if names is not None:
        lengths["filenames"] = len(names)
    if len(set(lengths.values())) > 1:
        shown = ", ".join(f"{k} {v}" for k, v in lengths.items())
        problems.add(f"filenames, contentTypes and images must be arrays of equal length ({shown})")
        return []
    if len(imgs) > MAX_MEDIA_ITEMS:
        problems.add(f"images has {len(imgs)} attachments; at most {MAX_MEDIA_ITEMS} per message")
        return []
    out: list[MediaInput] = []
    total = 0
    for i, item in enumerate(imgs):
        filename = names[i] if names is not None else None
        if filename is not None and not isinstance(filename, str):
            problems.add(f"filenames[{i}] must be a string")
            filename = None
        if filename is not None and len(filename) > MAX_FILENAME:
            problems.add(f"filenames[{i}] is longer than {MAX_FILENAME} characters")
        elif filename is not None and not filename.isprintable():
            problems.add(f"filenames[{i}] must not contain control characters")
        if not isinstance(item, str):
            problems.add(f"images[{i}] must be a base64 string")
            continue
        uri = _DATA_URI.match(item)
        content = _WHITESPACE.sub("", item[uri.end() :] if uri else item)
        ctype = _content_type(
            types[i] if types is not None else None, uri.group(1) if uri else "", filename, i, problems
        )
        try:
            data = base64.b64decode(content, validate=True)
        except (binascii.Error, ValueError):
            problems.add(
                f"images[{i}] is not valid base64 (standard alphabet A-Z a-z 0-9 + / with = padding)"
            )
            continue
        if not data:
            problems.add(f"images[{i}] is empty")
            continue
        total += len(data)
        if total > MAX_MEDIA_BYTES:
            problems.add(
                f"images are larger than {MAX_MEDIA_BYTES} bytes ({MAX_MEDIA_BYTES // 1048576} MB) in all"
            )
            return []
        out.append(MediaInput(content_base64=content, content_type=ctype, filename=filename))
    return out
