"""Outbound URL safety: the gateway fetches URLs that tenants give it (webhooks, later MMS media).

Without a guard, a tenant could point the gateway at its own admin port, a cloud metadata service or
anything else on the private network (server-side request forgery). :func:`guard_url` refuses such URLs
when they are registered; :func:`check_url_at_send` repeats the address check right before each fetch,
because a hostname that resolved to a public address at registration may resolve to a private one later
(DNS rebinding). Deployments that talk to private hosts on purpose pass ``allow_private=True``.

The rule is generic on purpose — it knows nothing about webhooks — so every outbound fetch uses it.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import SplitResult, urlsplit

from textgate.domain.errors import ValidationError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

ALLOWED_SCHEMES = frozenset({"http", "https"})
MAX_URL_LENGTH = 2000
#: Names that mean "this machine" without asking DNS (RFC 6761).
_LOCAL_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"})


def is_public_address(addr: IPAddress) -> bool:
    """True when ``addr`` is a globally routable unicast address (not loopback, private, link-local, ...)."""
    if isinstance(addr, ipaddress.IPv6Address):
        mapped = addr.ipv4_mapped or addr.sixtofour
        if mapped is not None and not is_public_address(mapped):
            return False
        if addr.teredo is not None:
            return False
    return not (
        addr.is_loopback
        or addr.is_private
        or addr.is_link_local
        or addr.is_multicast
        or addr.is_reserved
        or addr.is_unspecified
        or not addr.is_global
    )


def _parse(url: str, field: str) -> tuple[SplitResult, str, int]:
    """Split and check the URL's shape; returns the parts, the bare host and the effective port."""
    if not isinstance(url, str) or not url.strip():
        raise ValidationError("a URL is required", field=field)
    url = url.strip()
    if len(url) > MAX_URL_LENGTH:
        raise ValidationError(f"URL is longer than {MAX_URL_LENGTH} characters", field=field)
    if any(ch.isspace() or ord(ch) < 0x20 for ch in url):
        raise ValidationError("URL must not contain whitespace or control characters", field=field)
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise ValidationError(f"malformed URL: {exc}", field=field) from exc
    if parts.scheme.lower() not in ALLOWED_SCHEMES:
        raise ValidationError("URL scheme must be http or https", field=field)
    if parts.username is not None or parts.password is not None:
        raise ValidationError("URL must not contain credentials", field=field)
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise ValidationError("URL must have a host", field=field)
    if port is None:
        port = 443 if parts.scheme.lower() == "https" else 80
    return parts, host, port


def _literal_ip(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def resolve_host(host: str, port: int) -> list[IPAddress]:
    """Every address ``host`` resolves to (blocking; run it in a thread from async code)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise ValidationError(f"cannot resolve host {host!r}", field="url") from exc
    found: list[IPAddress] = []
    for _family, _type, _proto, _canon, sockaddr in infos:
        # IPv6 sockaddrs may carry a zone ("fe80::1%eth0"); the address part decides.
        raw = str(sockaddr[0]).split("%", 1)[0]
        try:
            found.append(ipaddress.ip_address(raw))
        except ValueError:
            continue
    return found


#: Said with every refusal of a non-public address: how to allow them, where that is read.
ALLOW_HINT = (
    " (to allow them - a receiver on this machine or a private network - set "
    "TEXTGATE_ALLOW_PRIVATE_URLS=true for the gateway; the textgate CLI reads the same setting)"
)


def _check_host(host: str, port: int, field: str) -> list[IPAddress]:
    lowered = host.lower()
    if lowered in _LOCAL_NAMES or lowered.endswith(".localhost"):
        raise ValidationError(f"host {host!r} is a local address{ALLOW_HINT}", field=field)
    literal = _literal_ip(lowered)
    if literal is not None:
        addresses = [literal]
    else:
        try:
            addresses = resolve_host(host, port)
        except ValidationError as exc:
            raise ValidationError(exc.message, field=field) from exc
        if not addresses:
            raise ValidationError(f"host {host!r} has no addresses", field=field)
    for addr in addresses:
        if not is_public_address(addr):
            raise ValidationError(
                f"host {host!r} resolves to a non-public address ({addr}); private, loopback, link-local, "
                f"multicast and reserved addresses are not allowed{ALLOW_HINT}",
                field=field,
            )
    return addresses


def guard_url(url: str, *, allow_private: bool, field: str = "url") -> str:
    """Check an outbound URL and return it (stripped); raise ``ValidationError(field=field)`` if unsafe.

    Always: http or https, a host, no ``user:pass@``. Unless ``allow_private``: the host — a literal IP
    or every address its name resolves to — must be public. Name resolution blocks; from async code
    use :func:`check_url_at_send`.
    """
    _parts, host, port = _parse(url, field)
    if not allow_private:
        _check_host(host, port, field)
    return url.strip()


async def check_url_at_send(url: str, allow_private: bool, *, field: str = "url") -> list[str] | None:
    """:func:`guard_url` again right before a fetch (DNS may have changed since registration), returning
    the addresses it checked: connect to one of those, not to what the name resolves to a moment later
    (DNS rebinding: a name that answers a public address to the check and a private one to the connect).
    None when private addresses are allowed (nothing to pin).

    The resolution runs in a worker thread so the event loop does not block on DNS.
    """
    if allow_private:
        _parse(url, field)
        return None

    def check() -> list[str]:
        _parts, host, port = _parse(url, field)
        return [str(a) for a in _check_host(host, port, field)]

    return await asyncio.to_thread(check)
