"""The webhook HTTP client against real local servers: a scripted asyncio server for the wire-level cases
(it answers each request with the bytes a test gives it) and a TLS server with a certificate made here."""

from __future__ import annotations

import asyncio
import base64
import shutil
import ssl
import subprocess
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import uvloop

from textgate.webhooks.client import ConnectFailed, ResponseError, WebhookClient, target

OK = b"HTTP/1.1 204 No Content\r\n\r\n"


@dataclass
class Scripted:
    """Answers the n-th request on any connection with ``answers[n]`` (the last one repeats); an answer
    of None closes the connection without a word. Records connections and the requests' raw heads."""

    answers: list[bytes | None]
    delay: float = 0.0
    close_after: bool = False  # close each connection after its first answer
    connections: int = 0
    heads: list[bytes] = field(default_factory=list)
    bodies: list[bytes] = field(default_factory=list)
    port: int = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                body = await reader.readexactly(length)
                self.heads.append(head)
                self.bodies.append(body)
                answer = self.answers[min(len(self.heads) - 1, len(self.answers) - 1)]
                if self.delay:
                    await asyncio.sleep(self.delay)
                if answer is None:
                    break
                writer.write(answer)
                await writer.drain()
                if self.close_after:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks?x=1"


LOOP = {"kind": "asyncio"}


@pytest.fixture(autouse=True, params=["asyncio", "uvloop"])
def event_loop_kind(request: pytest.FixtureRequest) -> None:
    """Every test on both event loops: the webhook senders run on uvloop, tests elsewhere on asyncio."""
    LOOP["kind"] = request.param


def run(coro: Coroutine[Any, Any, None]) -> None:
    (uvloop.run if LOOP["kind"] == "uvloop" else asyncio.run)(coro)


def serve(server: Scripted, body: Callable[[WebhookClient], Awaitable[None]], **client: object) -> None:
    async def main() -> None:
        srv = await asyncio.start_server(server.handle, "127.0.0.1", 0)
        server.port = srv.sockets[0].getsockname()[1]
        http = WebhookClient(**client)  # type: ignore[arg-type]
        try:
            await body(http)
        finally:
            await http.close()
            srv.close()
            await srv.wait_closed()

    run(main())


def post(http: WebhookClient, url: str, *, timeout: float = 5.0, **headers: str) -> Awaitable[int]:
    return http.request(
        "POST", url, {"content-type": "application/json", **headers}, b'{"a":1}', timeout=timeout
    )


def test_keep_alive_reuses_one_connection_and_sends_what_it_was_given() -> None:
    server = Scripted([OK])

    async def body(http: WebhookClient) -> None:
        assert [await post(http, server.url, **{"webhook-id": f"m{i}"}) for i in range(3)] == [204] * 3

    serve(server, body)
    assert server.connections == 1
    head = server.heads[0].decode()
    assert head.startswith("POST /hooks?x=1 HTTP/1.1\r\n")
    assert f"Host: 127.0.0.1:{server.port}\r\n" in head
    assert "content-type: application/json\r\n" in head and "Content-Length: 7\r\n" in head
    assert [h.decode().split("webhook-id: ")[1].split("\r\n")[0] for h in server.heads] == ["m0", "m1", "m2"]
    assert server.bodies == [b'{"a":1}'] * 3


def test_a_chunked_body_is_read_to_its_end_and_the_connection_reused() -> None:
    server = Scripted([b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"])

    async def body(http: WebhookClient) -> None:
        assert [await post(http, server.url), await post(http, server.url)] == [200, 200]

    serve(server, body)
    assert server.connections == 1


def test_a_long_body_is_cut_off_and_its_connection_not_reused() -> None:
    big = b"x" * 5000
    server = Scripted([b"HTTP/1.1 500 Oops\r\nContent-Length: %d\r\n\r\n%s" % (len(big), big)])

    async def body(http: WebhookClient) -> None:
        assert [await post(http, server.url), await post(http, server.url)] == [500, 500]

    serve(server, body, max_body=1000)
    assert server.connections == 2


def test_connection_close_and_a_body_ended_by_closing() -> None:
    server = Scripted(
        [b"HTTP/1.1 201 Created\r\nConnection: close\r\n\r\n", b"HTTP/1.0 202 Accepted\r\n\r\nbye"]
    )
    server.close_after = True

    async def body(http: WebhookClient) -> None:
        assert await post(http, server.url) == 201
        assert await post(http, server.url) == 202  # no length: the body ends when the connection does

    serve(server, body)
    assert server.connections == 2


def test_a_connection_the_receiver_dropped_while_idle_is_replaced() -> None:
    server = Scripted([OK], close_after=True)  # closes each connection after its answer

    async def body(http: WebhookClient) -> None:
        assert await post(http, server.url) == 204
        await asyncio.sleep(0.05)  # the close has arrived: the pooled connection is known dead
        assert await post(http, server.url) == 204

    serve(server, body)
    assert server.connections == 2 and len(server.heads) == 2


def test_a_reused_connection_closed_without_an_answer_sends_the_request_once_more() -> None:
    # The second request goes out on the kept connection, which the receiver closes without answering
    # (a keep-alive timeout racing the request): it is sent again on a new connection, and only once.
    server = Scripted([OK, None, OK])

    async def body(http: WebhookClient) -> None:
        assert await post(http, server.url) == 204
        assert await post(http, server.url) == 204

    serve(server, body)
    assert server.connections == 2 and len(server.heads) == 3


def test_a_new_connection_closed_without_an_answer_is_an_error() -> None:
    server = Scripted([None])

    async def body(http: WebhookClient) -> None:
        with pytest.raises(ResponseError, match="without answering"):
            await post(http, server.url)

    serve(server, body)
    assert server.connections == 1  # not retried: it was not a reused connection


def test_interim_answers_are_skipped_and_malformed_ones_refused() -> None:
    server = Scripted([b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n", b"garbage\r\n\r\n"])

    async def body(http: WebhookClient) -> None:
        assert await post(http, server.url) == 204
        with pytest.raises(ResponseError, match="malformed"):
            await post(http, server.url)

    serve(server, body)


def test_timeout_covers_the_whole_request() -> None:
    server = Scripted([OK], delay=1.0)

    async def body(http: WebhookClient) -> None:
        loop = asyncio.get_running_loop()
        started = loop.time()
        with pytest.raises(TimeoutError):
            await post(http, server.url, timeout=0.2)
        assert 0.15 <= loop.time() - started < 0.9

    serve(server, body)


def test_refused_connections_and_unusable_urls_or_headers() -> None:
    async def body(http: WebhookClient) -> None:
        with pytest.raises(ConnectFailed, match=r"cannot connect to 127\.0\.0\.1:1"):
            await post(http, "http://127.0.0.1:1/x")
        for url in ("ftp://example.com/x", "http:///x", "http://h:99999/x", "http://h/a b"):
            with pytest.raises(ValueError):
                await post(http, url)
        with pytest.raises(ValueError, match="header"):
            await post(http, "http://127.0.0.1:1/x", **{"x-evil": "a\r\nInjected: yes"})

    run(body(WebhookClient()))


def test_credentials_in_the_url_become_basic_authorization() -> None:
    t = target("https://us%40er:p%3Ass@hooks.example.com:8443/in")
    assert (t.secure, t.host, t.port, t.host_header, t.path) == (
        True,
        "hooks.example.com",
        8443,
        "hooks.example.com:8443",
        "/in",
    )
    assert t.authorization == "Basic " + base64.b64encode(b"us@er:p:ss").decode()
    assert target("http://[::1]/x").host_header == "[::1]" and target("http://[::1]/x").port == 80

    server = Scripted([OK])

    async def body(http: WebhookClient) -> None:
        assert await post(http, server.url.replace("127.0.0.1", "bob:pw@127.0.0.1")) == 204

    serve(server, body)
    assert b"Authorization: Basic " + base64.b64encode(b"bob:pw") + b"\r\n" in server.heads[0]
    assert f"Host: 127.0.0.1:{server.port}\r\n".encode() in server.heads[0]  # without the credentials


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    openssl = shutil.which("openssl")
    assert openssl, "openssl is needed to make the TLS test's certificate"
    d = tmp_path_factory.mktemp("tls")
    names = ["-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"]
    files = ["-keyout", str(d / "key.pem"), "-out", str(d / "cert.pem")]
    cmd = [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", *names, *files]
    subprocess.run(cmd, check=True, capture_output=True)
    return d / "cert.pem", d / "key.pem"


def test_https_verifies_the_receivers_certificate(certificate: tuple[Path, Path]) -> None:
    cert, key = certificate
    server = Scripted([OK])

    async def main() -> None:
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(cert, key)
        srv = await asyncio.start_server(server.handle, "127.0.0.1", 0, ssl=tls)
        port = srv.sockets[0].getsockname()[1]
        url = f"https://127.0.0.1:{port}/hooks"
        try:
            trusting = WebhookClient(tls=ssl.create_default_context(cafile=str(cert)))
            assert [await post(trusting, url), await post(trusting, url)] == [204, 204]
            await trusting.close()
            default = WebhookClient()  # the system's CA store does not know this certificate
            with pytest.raises(ConnectFailed, match="CERTIFICATE_VERIFY_FAILED"):
                await post(default, url)
            await default.close()
        finally:
            srv.close()
            await srv.wait_closed()

    run(main())
    assert server.connections == 1 and len(server.heads) == 2  # the refused handshake never got that far


def test_a_pinned_address_is_where_the_connection_goes_whatever_the_name_resolves_to() -> None:
    """DNS rebinding: the guard checked an address; the client must connect to that one, not resolve
    the name again. ``rebind.invalid`` resolves to nothing at all, so only the pin can reach the server;
    the request still names the host."""
    server = Scripted([OK])

    async def body(http: WebhookClient) -> None:
        url = f"http://rebind.invalid:{server.port}/hooks"
        with pytest.raises(ConnectFailed):
            await http.request("POST", url, {}, b"{}", timeout=5.0)  # by name: nowhere
        assert await http.request("POST", url, {}, b"{}", timeout=5.0, address="127.0.0.1") == 204

    serve(server, body)
    assert f"Host: rebind.invalid:{server.port}\r\n" in server.heads[0].decode()
