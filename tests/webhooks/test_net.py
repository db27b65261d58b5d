"""guard_url: outbound URLs must be http(s), credential-free and, unless allowed, public."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import pytest

from textgate import net
from textgate.domain.errors import ValidationError
from textgate.net import check_url_at_send, guard_url

PRIVATE_URLS = [
    "http://127.0.0.1/hook",
    "http://127.0.0.1:8080/hook",
    "http://localhost/hook",
    "http://LOCALHOST./hook",
    "http://api.localhost/hook",
    "http://10.1.2.3/hook",
    "http://172.16.0.1/hook",
    "http://192.168.1.1/hook",
    "http://169.254.169.254/latest/meta-data",
    "http://100.64.0.1/hook",
    "http://0.0.0.0/hook",
    "http://224.0.0.1/hook",
    "http://240.0.0.1/hook",
    "http://[::1]/hook",
    "http://[::]/hook",
    "http://[fe80::1]/hook",
    "http://[fc00::1]/hook",
    "http://[::ffff:127.0.0.1]/hook",
    "http://[::ffff:10.0.0.1]/hook",
]

MALFORMED_URLS = [
    "ftp://example.com/file",
    "file:///etc/passwd",
    "gopher://example.com/",
    "example.com/hook",
    "http://",
    "http:///path",
    "https://user:pass@example.com/hook",
    "https://user@example.com/hook",
    "http://example.com:99999/",
    "http://exa mple.com/",
    "",
    "   ",
]


@pytest.mark.parametrize("url", PRIVATE_URLS)
def test_private_addresses_rejected(url: str) -> None:
    with pytest.raises(ValidationError) as info:
        guard_url(url, allow_private=False)
    assert info.value.field == "url"
    # The refusal says how to allow it, and that the CLI reads the same setting.
    assert "TEXTGATE_ALLOW_PRIVATE_URLS=true" in info.value.message and "CLI" in info.value.message


@pytest.mark.parametrize("url", PRIVATE_URLS)
def test_private_addresses_allowed_when_asked(url: str) -> None:
    assert guard_url(url, allow_private=True) == url


@pytest.mark.parametrize("url", MALFORMED_URLS)
@pytest.mark.parametrize("allow_private", [False, True])
def test_malformed_or_unsafe_urls_rejected_always(url: str, allow_private: bool) -> None:
    with pytest.raises(ValidationError) as info:
        guard_url(url, allow_private=allow_private, field="media_url")
    assert info.value.field == "media_url"


@pytest.mark.parametrize(
    "url",
    ["https://93.184.216.34/hook", "http://93.184.216.34:8443/x?y=1", "https://[2606:4700:4700::1111]/hook"],
)
def test_public_literal_ip_accepted_without_network(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_dns(*_args: Any, **_kwargs: Any) -> Any:
        raise AssertionError("literal IPs must not be resolved")

    monkeypatch.setattr(socket, "getaddrinfo", no_dns)
    assert guard_url(url, allow_private=False) == url


def test_url_is_stripped() -> None:
    assert guard_url(" https://93.184.216.34/hook ", allow_private=False) == "https://93.184.216.34/hook"


def _fake_dns(monkeypatch: pytest.MonkeyPatch, answers: dict[str, list[str]]) -> None:
    def getaddrinfo(host: str, port: Any, *_args: Any, **_kwargs: Any) -> list[Any]:
        if host not in answers:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        out = []
        for addr in answers[host]:
            family = socket.AF_INET6 if ":" in addr else socket.AF_INET
            sockaddr = (addr, port, 0, 0) if family == socket.AF_INET6 else (addr, port)
            out.append((family, socket.SOCK_STREAM, 6, "", sockaddr))
        return out

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


def test_hostnames_are_resolved(monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_dns(
        monkeypatch,
        {
            "hooks.example.com": ["93.184.216.34", "2606:2800:220:1::1"],
            "sneaky.example.com": ["93.184.216.34", "10.0.0.5"],
            "v6.example.com": ["fe80::1%eth0"],
        },
    )
    assert guard_url("https://hooks.example.com/x", allow_private=False) == "https://hooks.example.com/x"
    # One private answer is enough to refuse: the client may connect to any of them.
    with pytest.raises(ValidationError, match="non-public"):
        guard_url("https://sneaky.example.com/x", allow_private=False)
    with pytest.raises(ValidationError, match="non-public"):
        guard_url("https://v6.example.com/x", allow_private=False)
    with pytest.raises(ValidationError, match="resolve") as info:
        guard_url("https://nowhere.example.com/x", allow_private=False, field="callback")
    assert info.value.field == "callback"
    # Hostnames are not resolved at all when private addresses are allowed.
    assert guard_url("https://nowhere.example.com/x", allow_private=True)


def test_check_url_at_send_catches_rebinding(monkeypatch: pytest.MonkeyPatch) -> None:
    answers = {"rebind.example.com": ["93.184.216.34"]}
    _fake_dns(monkeypatch, answers)
    guard_url("https://rebind.example.com/hook", allow_private=False)
    asyncio.run(check_url_at_send("https://rebind.example.com/hook", allow_private=False))
    answers["rebind.example.com"] = ["127.0.0.1"]  # the name now points inside
    with pytest.raises(ValidationError):
        asyncio.run(check_url_at_send("https://rebind.example.com/hook", allow_private=False))
    asyncio.run(check_url_at_send("https://rebind.example.com/hook", allow_private=True))
    with pytest.raises(ValidationError):
        asyncio.run(check_url_at_send("ftp://rebind.example.com/hook", allow_private=True))


def test_is_public_address() -> None:
    import ipaddress

    assert net.is_public_address(ipaddress.ip_address("93.184.216.34"))
    assert net.is_public_address(ipaddress.ip_address("2606:4700:4700::1111"))
    for raw in ("127.0.0.1", "10.0.0.1", "169.254.1.1", "::1", "::ffff:192.168.0.1", "2002:7f00:1::"):
        assert not net.is_public_address(ipaddress.ip_address(raw)), raw


def test_check_url_at_send_returns_the_addresses_it_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_dns(monkeypatch, {"pinned.example.com": ["93.184.216.34"]})
    checked = asyncio.run(check_url_at_send("https://pinned.example.com/hook", allow_private=False))
    assert checked == ["93.184.216.34"]  # what the sender connects to
    assert asyncio.run(check_url_at_send("https://pinned.example.com/hook", allow_private=True)) is None
