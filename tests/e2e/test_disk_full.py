"""``/healthz`` with a full disk: reads still work, every write fails - health must say so (503 and the
reason), and say ok again once there is room. The database lives on a 2 MiB tmpfs the test mounts (the
test machines run as root); a filler file takes the room that is left."""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.helpers import make_tenant
from textgate.bootstrap import prepare_database
from textgate.config import Settings
from textgate.store.db import make_engine
from textgate.web.app import create_app


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)], capture_output=True)
    assert done.returncode == 0, f"cannot mount a tmpfs for the disk-full test: {done.stderr.decode()}"
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _fill(directory: Path) -> Path:
    filler = directory / "filler"
    with contextlib.suppress(OSError), filler.open("wb", buffering=0) as fh:
        while True:
            fh.write(b"\0" * 4096)
    return filler


def test_healthz_reports_a_write_path_that_fails(small_disk: Path) -> None:
    engine = make_engine(f"sqlite:///{small_disk}/t.db")
    prepare_database(engine)
    tenant = make_tenant(engine)
    app = create_app(Settings(database_url="sqlite://", run_workers=False), engine=engine, workers=False)
    with TestClient(app) as client:
        healthy = client.get("/healthz")
        assert healthy.status_code == 200 and healthy.json()["writes"] == "ok"
        filler = _fill(small_disk)
        sick = client.get("/healthz")
        assert sick.status_code == 503, sick.text
        assert sick.json()["database"] == "ok"  # reads still work
        assert "full" in sick.json()["writes"]
        # A send now fails without a half-written trace, and health stays honest about why.
        headers = {"Authorization": f"Bearer {tenant.key.secret}"}
        send = client.post(
            "/v1/messages", json={"from": tenant.number, "to": "+15550001000", "body": "x"}, headers=headers
        )
        assert send.status_code == 503, send.text  # retry later: nothing was stored
        assert "storage" in send.json()["error"]["message"]
        filler.unlink()
        again = client.get("/healthz")
        assert again.status_code == 200 and again.json()["writes"] == "ok"
    engine.dispose()
