"""A real ``textgate serve`` and a client that does not wait: what it sees."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.e2e.harness import Server


def test_an_over_size_body_written_before_reading_still_gets_the_413(tmp_path: Path) -> None:
    """Python's urllib writes the whole body, then reads. Past the 20 MiB default limit the gateway reads
    the rest of it (up to four times the limit) and answers 413, rather than closing on unread data,
    which the client would see as a reset connection."""
    server = Server(f"sqlite:///{tmp_path}/t.db", tmp_path)
    server.start()
    try:
        request = urllib.request.Request(
            server.url + "/v1/messages",
            data=b"x" * (25 * 1024 * 1024),
            headers={"Content-Type": "application/json"},
        )
        with pytest.raises(urllib.error.HTTPError) as caught:
            urllib.request.urlopen(request, timeout=60)
        assert caught.value.code == 413
        assert "request body larger than" in json.loads(caught.value.read())["error"]["message"]
    finally:
        server.stop()
