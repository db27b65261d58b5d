"""/docs and /redoc load everything from the gateway itself (web/docs.py); the browser proves they render
offline in tests/e2e/test_docs_offline.py."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from textgate.config import Settings
from textgate.web.app import create_app


@pytest.fixture(scope="module")
def client() -> TestClient:
    return TestClient(create_app(Settings(database_url="sqlite://"), workers=False))


def _references(html: str) -> list[str]:
    return re.findall(r"""(?:src|href|url)\s*[=:]\s*["']([^"']+)["']""", html)


@pytest.mark.parametrize(
    ("page", "assets"),
    [
        (
            "/docs",
            {"/docs/assets/swagger-ui-bundle.js", "/docs/assets/swagger-ui.css", "/docs/assets/favicon.png"},
        ),
        ("/redoc", {"/docs/assets/redoc.standalone.js", "/docs/assets/favicon.png"}),
    ],
)
def test_pages_reference_only_the_gateways_own_files(client: TestClient, page: str, assets: set[str]) -> None:
    r = client.get(page)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    assert "://" not in r.text  # no CDN, no web fonts: nothing from another host
    refs = set(_references(r.text))
    assert assets <= refs
    assert refs - assets <= {"/openapi.json"}
    for asset in assets:
        got = client.get(asset)  # no credentials: the reference is as public as /openapi.json
        assert got.status_code == 200, asset
        assert len(got.content) > 100


def test_assets_have_their_types_and_cache_validators(client: TestClient) -> None:
    js = client.get("/docs/assets/swagger-ui-bundle.js")
    assert "javascript" in js.headers["content-type"]
    assert "etag" in js.headers
    assert client.get("/docs/assets/swagger-ui.css").headers["content-type"].startswith("text/css")
    assert (
        client.get(
            "/docs/assets/swagger-ui-bundle.js", headers={"If-None-Match": js.headers["etag"]}
        ).status_code
        == 304
    )
    assert client.get("/docs/assets/nothing.js").status_code == 404


def test_swagger_ui_asks_no_validator_and_keeps_the_oauth2_redirect(client: TestClient) -> None:
    page = client.get("/docs").text
    assert '"validatorUrl": null' in page
    assert "oauth2RedirectUrl: window.location.origin + '/docs/oauth2-redirect'" in page
    redirect = client.get("/docs/oauth2-redirect")
    assert redirect.status_code == 200
    assert "://" not in redirect.text


def test_pages_follow_the_root_path_of_a_reverse_proxy() -> None:
    app = create_app(Settings(database_url="sqlite://"), workers=False)
    client = TestClient(app, root_path="/gateway")
    page = client.get("/docs").text
    assert "url: '/gateway/openapi.json'" in page
    assert "/gateway/docs/assets/swagger-ui-bundle.js" in page
    assert "/gateway/docs/assets/redoc.standalone.js" in client.get("/redoc").text


def test_the_pages_are_not_operations_in_the_document(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert not [p for p in paths if p.startswith(("/docs", "/redoc"))]


@pytest.mark.parametrize("page", ["/docs", "/redoc", "/docs/oauth2-redirect"])
def test_pages_may_load_from_the_gateway_only(client: TestClient, page: str) -> None:
    import base64
    import hashlib

    r = client.get(page)
    directives = (d.partition(" ") for d in r.headers["content-security-policy"].split("; "))
    policy = {name: value for name, _, value in directives}
    assert policy["default-src"] == "'none'"
    assert policy["img-src"] == "'self' data:"
    assert policy["connect-src"] == "'self'"
    # Inline scripts run by their hash only: each one on the page, and no 'unsafe-inline'.
    for script in re.findall(r"<script>(.*?)</script>", r.text, re.DOTALL):
        digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in policy["script-src"]
    assert "unsafe" not in policy["script-src"]
