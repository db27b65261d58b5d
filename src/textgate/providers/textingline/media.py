"""Fetching an MMS's ``mediaUrl`` at acceptance.

Why fetch here and not leave the URL to the carrier: textgate's connectors carry the media itself, and
fetching while the client waits turns a dead link, a web page or a 40 MB video into a 400 naming
``mediaUrl`` now, instead of an MMS that fails later and silently. Why so guarded: the URL is the
tenant's, and the gateway fetches it from inside the operator's network, so it must never become a way to
read private services (server-side request forgery). Every hop — the URL and each redirect — is checked
with :func:`textgate.net.check_url_at_send` right before it is requested, unless the deployment allows
private URLs (``allow_private_urls``).

Limits (documented in docs/dialects/textingline.md):

* at most :data:`MAX_BYTES` (5 MiB, textgate's media limit), read as a stream and abandoned past the cap
  whatever ``Content-Length`` claims;
* content types ``image/*``, ``video/*``, ``audio/*``, ``application/pdf``, ``text/vcard`` and
  ``text/x-vcard`` — what MMS carries;
* 5 s to connect, 10 s between bytes, :data:`TOTAL_SECONDS` in all; at most :data:`MAX_REDIRECTS` redirects.

A residual gap shared with the webhook worker: the name is resolved once for the check and again by the
HTTP client, so a DNS answer that changes within that instant is not caught.
"""

from __future__ import annotations

import asyncio
import base64
import mimetypes
import re
from dataclasses import dataclass
from pathlib import PurePosixPath
from urllib.parse import unquote, urlsplit

import httpx

from textgate.domain.errors import ValidationError
from textgate.net import check_url_at_send
from textgate.service.send import MAX_MEDIA_BYTES, MediaInput

FIELD = "mediaUrl"
MAX_BYTES = MAX_MEDIA_BYTES
MAX_REDIRECTS = 3
TOTAL_SECONDS = 20.0
TIMEOUT = httpx.Timeout(10.0, connect=5.0)
ALLOWED_PREFIXES = ("image/", "video/", "audio/")
ALLOWED_TYPES = frozenset({"application/pdf", "text/vcard", "text/x-vcard"})
_HEADERS = {
    "User-Agent": "textgate-media-fetch",
    "Accept": "image/*, video/*, audio/*, application/pdf, text/vcard",
}
_CONTENT_TYPE = re.compile(r"[a-z0-9][a-z0-9.+-]*/[a-z0-9][a-z0-9.+-]*")
_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True, slots=True)
class FetchedMedia:
    content: bytes
    content_type: str
    filename: str

    def as_input(self) -> MediaInput:
        return MediaInput(
            content_base64=base64.b64encode(self.content).decode("ascii"),
            content_type=self.content_type,
            filename=self.filename,
        )


def _refuse(reason: str) -> ValidationError:
    return ValidationError(f"mediaUrl {reason}", field=FIELD)


def allowed_content_type(header: str | None) -> str:
    """The bare, lower-case MIME type of a ``Content-Type`` header, if MMS may carry it."""
    ctype = (header or "").split(";", 1)[0].strip().lower()
    if not _CONTENT_TYPE.fullmatch(ctype):
        raise _refuse(f"did not name a content type (got {header!r}); serve the file with its MIME type")
    if not (ctype.startswith(ALLOWED_PREFIXES) or ctype in ALLOWED_TYPES):
        raise _refuse(
            f"is {ctype}, which MMS cannot carry; allowed: image/*, video/*, audio/*, "
            f"{', '.join(sorted(ALLOWED_TYPES))}"
        )
    return ctype


def filename_for(url: str, content_type: str) -> str:
    """The last path segment of the URL, made safe; ``media`` plus an extension when there is none."""
    name = _UNSAFE_NAME.sub("_", PurePosixPath(unquote(urlsplit(url).path)).name).strip("._")[:100]
    if not name or "." not in name:
        name = (name or "media") + (mimetypes.guess_extension(content_type) or "")
    return name


async def _read_capped(response: httpx.Response) -> bytes:
    declared = response.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BYTES:
        raise _refuse(f"is {int(declared)} bytes; the limit is {MAX_BYTES} bytes")
    data = bytearray()
    async for chunk in response.aiter_bytes():
        data += chunk
        if len(data) > MAX_BYTES:
            raise _refuse(f"is larger than the limit of {MAX_BYTES} bytes")
    if not data:
        raise _refuse("answered with an empty file")
    return bytes(data)


async def _fetch(client: httpx.AsyncClient, url: str, allow_private: bool) -> FetchedMedia:
    current = url
    for _hop in range(MAX_REDIRECTS + 1):
        try:
            await check_url_at_send(current, allow_private, field=FIELD)
        except ValidationError as exc:
            where = "" if current == url else f" (redirected to {current})"
            raise _refuse(f"is refused{where}: {exc.message}") from exc
        async with client.stream("GET", current, headers=_HEADERS) as response:
            if response.is_redirect:
                location = response.headers.get("location")
                if not location:
                    raise _refuse(f"answered HTTP {response.status_code} without a Location")
                current = str(response.url.join(location))
                continue
            if not response.is_success:
                raise _refuse(f"could not be fetched: the server answered HTTP {response.status_code}")
            content_type = allowed_content_type(response.headers.get("content-type"))
            content = await _read_capped(response)
            return FetchedMedia(content, content_type, filename_for(current, content_type))
    raise _refuse(f"redirected more than {MAX_REDIRECTS} times")


async def fetch_media(
    url: str, *, allow_private: bool, transport: httpx.AsyncBaseTransport | None = None
) -> FetchedMedia:
    """GET ``url`` within the limits above; raises :class:`ValidationError` (field ``mediaUrl``)."""
    try:
        async with asyncio.timeout(TOTAL_SECONDS):
            async with httpx.AsyncClient(
                timeout=TIMEOUT, follow_redirects=False, trust_env=False, transport=transport
            ) as client:
                return await _fetch(client, url, allow_private)
    except TimeoutError as exc:
        raise _refuse(f"could not be fetched within {TOTAL_SECONDS:g} seconds") from exc
    except httpx.HTTPError as exc:
        raise _refuse(f"could not be fetched: {type(exc).__name__}: {exc}") from exc
