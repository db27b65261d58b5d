"""Shared by the dashboard's browser tests: a running gateway with two accounts that sign in, and the
steps the tests take (send a message over the API, sign in by keyboard, find the unlabelled fields)."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.harness import TEXTGATE, Server, cli

PASSWORD = "correct horse battery"
NUMBER = "+15551230001"


def set_login(env: dict[str, str], account: str, username: str) -> None:
    proc = subprocess.run(
        [*TEXTGATE, "accounts", "set-login", account, "--username", username, "--password-stdin"],
        env=env,
        input=PASSWORD + "\n",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr


def dashboard_server(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Server, dict[str, Any], dict[str, Any]]]:
    """``textgate serve`` with accounts acme (number NUMBER) and other (+15551238888), signed in as
    acme-admin and other-admin with PASSWORD. Use it from a module-scoped fixture: ``yield from``."""
    workdir = tmp_path_factory.mktemp("dashboard")
    server = Server(f"sqlite:///{workdir}/textgate.db", workdir, sim_report_latency="0.1")
    acme = json.loads(cli(server.env, "accounts", "create", "acme", "--credits", "100", "--json"))
    other = json.loads(cli(server.env, "accounts", "create", "other", "--credits", "100", "--json"))
    cli(server.env, "numbers", "add", "acme", NUMBER)
    cli(server.env, "numbers", "add", "other", "+15551238888")
    set_login(server.env, "acme", "acme-admin")
    set_login(server.env, "other", "other-admin")
    server.start()
    try:
        yield server, acme, other
    finally:
        server.stop()


def send(server: Server, secret: str, sender: str, body: str, to: str = "+15550000001") -> str:
    with server.client(secret) as api:
        r = api.post("/v1/messages", json={"from": sender, "to": to, "body": body})
        assert r.status_code == 202, r.text
        return str(r.json()["messages"][0]["id"])


def sign_in(page: Any, url: str, username: str, password: str = PASSWORD) -> None:
    page.goto(f"{url}/dashboard")
    assert page.url == f"{url}/dashboard/login"  # signed out: sent to the form
    page.get_by_label("Username").fill(username)
    page.keyboard.press("Tab")  # keyboard only: the labels and the order of the fields
    page.keyboard.type(password)
    page.keyboard.press("Enter")


def unlabelled(page: Any) -> list[str]:
    """The names of the page's visible form fields that have neither a label nor an aria-label."""
    found: list[str] = page.evaluate(
        """() => [...document.querySelectorAll('input:not([type=hidden]), select, textarea')]
             .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label'))
             .map(el => el.name)"""
    )
    return found
