"""The test SMSC (tests/smsc/server.js, a node script on the npm package ``smpp``) as a Python object.

:class:`Smsc` starts it on loopback, restarts or kills it, and drives its control channel (see the
comment at the top of server.js for the rules it understands).
"""

from __future__ import annotations

import json
import os
import select
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[3]
SMSC_DIR = ROOT / "tests" / "smsc"
SYSTEM_ID = "textgate"
PASSWORD = "s3cret"


class SmscUnavailable(RuntimeError):
    pass


def ensure_installed() -> None:
    """Run scripts/ensure-smsc (node + ``npm ci``); raise SmscUnavailable saying why it cannot run."""
    script = ROOT / "scripts" / "ensure-smsc"
    done = subprocess.run(["bash", str(script)], capture_output=True, text=True, timeout=300, check=False)
    if done.returncode != 0:
        raise SmscUnavailable(
            f"scripts/ensure-smsc failed (exit {done.returncode}); the SMPP tests need node and the npm "
            f"packages of tests/smsc:\n{done.stderr.strip()}"
        )
    if shutil.which("node") is None:
        raise SmscUnavailable("node is not on PATH after scripts/ensure-smsc")


class Smsc:
    """One SMSC process; the ports stay the same across restarts."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen[str] | None = None
        self.smpp_port = 0
        self.control_port = 0
        self.starts = 0

    # -- process ------------------------------------------------------------------------------
    def start(self) -> None:
        self.starts += 1
        command = [
            shutil.which("node") or "node",
            str(SMSC_DIR / "server.js"),
            "--port",
            str(self.smpp_port),
            "--control-port",
            str(self.control_port),
            "--system-id",
            SYSTEM_ID,
            "--password",
            PASSWORD,
            "--id-base",
            str(self.starts * 0x100000),
        ]
        deadline = time.monotonic() + 10
        while True:
            self.proc = subprocess.Popen(
                command,
                cwd=SMSC_DIR,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env={**os.environ, "NODE_ENV": "test"},
            )
            assert self.proc.stdout is not None
            ready, _, _ = select.select([self.proc.stdout], [], [], 10)
            line = self.proc.stdout.readline() if ready else ""
            if line:
                break
            # A restart may find the old port not yet free: try again for a while.
            err = self.proc.stderr.read() if self.proc.poll() is not None and self.proc.stderr else ""
            self.kill()
            if time.monotonic() > deadline:
                raise SmscUnavailable(f"the test SMSC did not start: {err.strip() or 'no output in 10 s'}")
            time.sleep(0.1)
        info = json.loads(line)
        self.smpp_port = int(info["smpp_port"])
        self.control_port = int(info["control_port"])

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """End the process at once (SIGKILL): connections drop without unbind."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=10)
        for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()
        self.proc = None

    def restart(self) -> None:
        self.kill()
        self.start()

    # -- control channel ----------------------------------------------------------------------
    async def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{self.control_port}", timeout=5) as client:
            response = await client.request(method, path, json=body)
        if response.status_code >= 400:
            raise AssertionError(f"SMSC control {method} {path}: {response.status_code} {response.text}")
        return response.json()

    async def rule(self, dest: str, **rule: Any) -> None:
        await self._call("POST", "/rules", {"dest": dest, "rule": rule})

    async def reset(self) -> None:
        await self._call("POST", "/reset", {})

    async def received(self, command: str | None = None) -> list[dict[str, Any]]:
        path = f"/received?command={command}" if command else "/received"
        result: list[dict[str, Any]] = await self._call("GET", path)
        return result

    async def sessions(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = await self._call("GET", "/sessions")
        return result

    async def max_outstanding(self) -> dict[str, int]:
        result: dict[str, int] = (await self._call("GET", "/stats"))["max_outstanding"]
        return result

    async def deliver(self, **body: Any) -> dict[str, Any]:
        result: dict[str, Any] = await self._call("POST", "/deliver", body)
        return result

    async def drop(self, session: int | None = None) -> int:
        body = {} if session is None else {"session": session}
        return int((await self._call("POST", "/drop", body))["dropped"])

    async def default_rule(self, **rule: Any) -> None:
        """The rule for every destination without one of its own."""
        await self._call("POST", "/rules", {"default": rule})

    async def limits(self, **limits: Any) -> None:
        """Session-wide limits, e.g. ``tps=50`` (submits a second per session; beyond: ESME_RTHROTTLED)."""
        await self._call("POST", "/limits", limits)

    async def refuse_binds(self, seconds: float, status: str = "ESME_RBINDFAIL") -> None:
        await self._call("POST", "/refuse_binds", {"seconds": seconds, "status": status})

    async def outage(self, seconds: float) -> None:
        """Drop every session and refuse connections for ``seconds``; the process (and its records) stay."""
        await self._call("POST", "/outage", {"seconds": seconds})

    async def counts(self) -> dict[str, Any]:
        """Submits, accepted, throttled, and accepted submits per (destination, reference, part)."""
        result: dict[str, Any] = await self._call("GET", "/counts")
        return result
