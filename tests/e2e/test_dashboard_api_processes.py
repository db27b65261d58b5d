"""The dashboard under ``TEXTGATE_API_PROCESSES``: the pages are answered by API processes, which do not
run the connectors; an operator's overview still shows their live health, asked of the ``serve`` process
that runs them."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.e2e.harness import TEXTGATE, Server

pytestmark = pytest.mark.e2e
PASSWORD = "correct horse battery"


def test_an_api_process_shows_the_connectors_health_of_its_serve(tmp_path: Path) -> None:
    server = Server(f"sqlite:///{tmp_path}/textgate.db", tmp_path, api_processes="1")
    proc = subprocess.run(
        [*TEXTGATE, "operators", "create", "ops", "--password-stdin"],
        env=server.env,
        input=PASSWORD + "\n",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    server.start()
    try:
        with httpx.Client(base_url=server.url, timeout=10) as web:
            form = web.get("/dashboard/login").text
            csrf = re.search(r'name="csrf" value="([^"]+)"', form)
            assert csrf is not None
            r = web.post(
                "/dashboard/login",
                data={"username": "ops", "password": PASSWORD, "csrf": csrf.group(1), "operator": "1"},
            )
            assert r.status_code == 303, r.text
            page = web.get("/dashboard").text
        assert "Connectors and routes" in page
        assert re.search(r"<strong>simulator</strong>|>simulator<", page), page[:3000]
        assert "health is unknown" not in page.lower()
        assert re.search(r"Sending:\s*<[^>]+>up<", page), page[:3000]
    finally:
        server.stop()
