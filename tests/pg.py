"""A throwaway PostgreSQL cluster for the test session.

The cluster lives in a temp dir, listens on 127.0.0.1 only (on a free port), keeps its unix
socket inside that dir and runs with durability switched off for speed.  It is stopped and
removed at the end of the session (pytest fixture teardown, and atexit as a backstop).

As root, PostgreSQL refuses to run, so the server runs as the ``postgres`` system user (made by
the Debian package; created here if missing).  As any other user it runs as that user.

Environment:
  TEXTGATE_TEST_POSTGRES=required  PostgreSQL must be available (implied by CI=true)
  TEXTGATE_TEST_POSTGRES=skip      never try to install PostgreSQL
  TEXTGATE_PG_BINDIR=/path/bin     use these initdb/pg_ctl instead of searching
"""

from __future__ import annotations

import atexit
import contextlib
import glob
import itertools
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from tests import needs

REPO_ROOT = Path(__file__).resolve().parents[1]
ENSURE_SCRIPT = REPO_ROOT / "scripts" / "ensure-postgres"
DIR_PREFIX = "textgate-pg-"
SUPERUSER = "postgres"
RUN_AS = "postgres"  # the system user the server runs as when we are root
SHM_DIR = "/dev/shm"
SHM_MIN_FREE = 2 << 30

SERVER_SETTINGS: Mapping[str, str] = {
    "listen_addresses": "'127.0.0.1'",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "200",
    "wal_level": "minimal",
    "max_wal_senders": "0",
    "shared_buffers": "64MB",
    "max_wal_size": "'256MB'",
    "min_wal_size": "'32MB'",
    "checkpoint_flush_after": "0",
    "bgwriter_flush_after": "0",
    "backend_flush_after": "0",
    "wal_writer_flush_after": "0",
    "log_min_messages": "warning",
    "log_statement": "none",
}


class PgUnavailable(RuntimeError):
    """PostgreSQL cannot be had on this machine (binaries missing, cannot start, ...)."""


def mode() -> str:
    """'required', 'skip' or 'auto' (from TEXTGATE_TEST_POSTGRES and CI)."""
    return needs.mode("TEXTGATE_TEST_POSTGRES")


def _version_key(path: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", path))


def find_bindir() -> Path | None:
    override = os.environ.get("TEXTGATE_PG_BINDIR")
    candidates = [override] if override else []
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_version_key, reverse=True)
    for cand in candidates:
        if cand and os.access(Path(cand, "initdb"), os.X_OK) and os.access(Path(cand, "pg_ctl"), os.X_OK):
            return Path(cand)
    initdb, pg_ctl = shutil.which("initdb"), shutil.which("pg_ctl")  # e.g. Homebrew / other distros
    if initdb and pg_ctl and Path(initdb).parent == Path(pg_ctl).parent:
        return Path(initdb).parent
    return None


def ensure_bindir() -> Path:
    """Find initdb/pg_ctl, installing PostgreSQL via scripts/ensure-postgres if needed and allowed."""
    bindir = find_bindir()
    if bindir is not None:
        return bindir
    if mode() == "skip":
        raise PgUnavailable(
            "PostgreSQL binaries not found under /usr/lib/postgresql/*/bin and "
            "TEXTGATE_TEST_POSTGRES=skip forbids installing them"
        )
    proc = subprocess.run(
        ["bash", str(ENSURE_SCRIPT)],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=1200,
        check=False,
    )
    printed = (proc.stdout.strip().splitlines() or [""])[-1]
    if proc.returncode == 0 and printed and os.access(Path(printed, "pg_ctl"), os.X_OK):
        return Path(printed)
    raise PgUnavailable(
        f"PostgreSQL binaries not found and {ENSURE_SCRIPT.relative_to(REPO_ROOT)} could not install "
        f"them (exit {proc.returncode}):\n{_tail(proc.stdout + proc.stderr)}"
    )


def _tail(text: str, lines: int = 30) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _server_user() -> pwd.struct_passwd | None:
    """The user to run the server as, or None to run it as ourselves (when not root)."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(RUN_AS)
    except KeyError:
        pass
    # The Debian package creates this user; make an equivalent one if it is missing.
    nologin = "/usr/sbin/nologin" if os.path.exists("/usr/sbin/nologin") else "/bin/false"
    proc = subprocess.run(
        [
            "useradd",
            "--system",
            "--user-group",
            "--no-create-home",
            "--home-dir",
            "/nonexistent",
            "--shell",
            nologin,
            RUN_AS,
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    try:
        return pwd.getpwnam(RUN_AS)
    except KeyError:
        raise PgUnavailable(
            f"running as root and could not create the {RUN_AS!r} user to run PostgreSQL: "
            f"{proc.stderr.strip()}"
        ) from None


def _parent_dirs() -> list[str]:
    """Where to put the cluster, best first.

    A RAM-backed /dev/shm makes CREATE DATABASE ~20x faster than a disk-backed /tmp (which matters
    with one database per test); it is used only when it has room (Docker's default 64MB has not).
    """
    override = os.environ.get("TEXTGATE_PG_TMPDIR")
    if override:
        return [override]
    dirs = []
    with contextlib.suppress(OSError):
        st = os.statvfs(SHM_DIR)
        if st.f_bavail * st.f_frsize >= SHM_MIN_FREE and os.access(SHM_DIR, os.W_OK):
            dirs.append(SHM_DIR)
    return list(dict.fromkeys([*dirs, tempfile.gettempdir(), "/tmp"]))


def _reap_stale_clusters() -> None:
    """Stop and remove clusters left behind by test sessions that were killed."""
    found = [glob.glob(os.path.join(p, DIR_PREFIX + "*")) for p in {*_parent_dirs(), SHM_DIR}]
    for d in itertools.chain.from_iterable(found):
        owner_file = Path(d, "owner.pid")
        try:
            owner = int(owner_file.read_text().strip())
            started = owner_file.stat().st_mtime
        except (OSError, ValueError):
            continue
        if _pid_alive(owner) or time.time() - started < 5:
            continue
        pidfile = Path(d, "data", "postmaster.pid")
        with contextlib.suppress(OSError, ValueError, IndexError):
            os.kill(int(pidfile.read_text().splitlines()[0]), signal.SIGQUIT)
        shutil.rmtree(d, ignore_errors=True)


#: Switched off for the tests' speed; a ``durable`` cluster (benchmarks) keeps PostgreSQL's defaults.
NOT_DURABLE = ("fsync", "synchronous_commit", "full_page_writes", "wal_level", "max_wal_senders")


class PgCluster:
    def __init__(self, bindir: Path, *, durable: bool = False) -> None:
        self.bindir = bindir
        self.durable = durable
        self.port = 0
        self.base: Path | None = None
        self.startup_seconds = 0.0
        self._user = _server_user()
        self._lock = threading.Lock()
        self._running = False

    # -- paths ---------------------------------------------------------------------------------
    @property
    def datadir(self) -> Path:
        assert self.base is not None
        return self.base / "data"

    @property
    def on_shm(self) -> bool:
        return self.base is not None and str(self.base).startswith(SHM_DIR + "/")

    @property
    def logfile(self) -> Path:
        assert self.base is not None
        return self.base / "server.log"

    # -- process helpers ---------------------------------------------------------------------
    def _run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        kw: dict[str, Any] = {}
        if self._user is not None:
            kw = {"user": self._user.pw_uid, "group": self._user.pw_gid, "extra_groups": []}
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env.update(LC_ALL="C", LANG="C", TZ="UTC")
        return subprocess.run(
            [str(self.bindir / args[0]), *args[1:]],
            cwd=str(self.base),  # must be readable by the server user (root's cwd may not be)
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            **kw,
        )

    def _make_base(self) -> Path:
        """A temp dir the server user owns and can reach (a durable cluster's on disk, not in RAM)."""
        parents = [d for d in _parent_dirs() if not (self.durable and d == SHM_DIR)]
        for parent in parents:
            try:
                base = Path(tempfile.mkdtemp(prefix=DIR_PREFIX, dir=parent))
            except OSError:
                continue
            (base / "owner.pid").write_text(f"{os.getpid()}\n")
            if self._user is None:
                return base
            os.chown(base, self._user.pw_uid, self._user.pw_gid)
            probe = subprocess.run(
                ["test", "-w", str(base)],
                user=self._user.pw_uid,
                group=self._user.pw_gid,
                extra_groups=[],
                check=False,
            )
            if probe.returncode == 0:
                return base
            shutil.rmtree(base, ignore_errors=True)
        raise PgUnavailable(f"no temp dir reachable by the {RUN_AS!r} user")

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> None:
        t0 = time.monotonic()
        _reap_stale_clusters()
        self.base = self._make_base()
        atexit.register(self.stop)
        proc = self._run(
            "initdb", "-D", str(self.datadir), "-U", SUPERUSER, "-A", "trust", "-E", "UTF8",
            "--locale=C", "--no-sync", "--no-instructions",
        )  # fmt: skip
        if proc.returncode != 0:
            self.stop()
            output = _tail(proc.stdout + proc.stderr)
            raise PgUnavailable(f"initdb failed (exit {proc.returncode}):\n{output}")

        conf = self.datadir / "postgresql.conf"
        base_conf = conf.read_text()
        last_error = ""
        for _attempt in range(5):  # retry on a port race with another process
            self.port = _free_port()
            base_settings = {
                k: v for k, v in SERVER_SETTINGS.items() if not (self.durable and k in NOT_DURABLE)
            }
            settings = {
                **base_settings,
                "port": str(self.port),
                "unix_socket_directories": f"'{self.base}'",
            }
            extra = "".join(f"{k} = {v}\n" for k, v in settings.items())
            conf.write_text(base_conf + "\n# textgate test cluster\n" + extra)
            proc = self._run(
                "pg_ctl", "start", "-w", "-t", "60", "-D", str(self.datadir), "-l", str(self.logfile),
                timeout=90,
            )  # fmt: skip
            if proc.returncode == 0:
                self._running = True
                break
            last_error = _tail(proc.stdout + proc.stderr + "\n" + self._read_log())
            if "already in use" not in last_error:
                break
        if not self._running:
            self.stop()
            raise PgUnavailable(f"pg_ctl start failed:\n{last_error}")
        self.startup_seconds = time.monotonic() - t0

    def _read_log(self) -> str:
        try:
            return self.logfile.read_text(errors="replace")
        except OSError:
            return ""

    def stop(self) -> None:
        with self._lock:
            if self.base is None:
                return
            if self._running:
                proc = self._run(
                    "pg_ctl", "stop", "-D", str(self.datadir), "-m", "immediate", "-w", timeout=60
                )  # fmt: skip
                if proc.returncode != 0:
                    with contextlib.suppress(OSError, ValueError, IndexError):
                        pid = int((self.datadir / "postmaster.pid").read_text().splitlines()[0])
                        os.kill(pid, signal.SIGKILL)
                self._running = False
            shutil.rmtree(self.base, ignore_errors=True)
            self.base = None
        with contextlib.suppress(Exception):
            atexit.unregister(self.stop)

    def postmaster_pid(self) -> int:
        return int((self.datadir / "postmaster.pid").read_text().splitlines()[0])

    # -- databases ---------------------------------------------------------------------------
    def url(self, dbname: str = "postgres") -> str:
        return f"postgresql+psycopg://{SUPERUSER}@127.0.0.1:{self.port}/{dbname}"

    def _admin(self) -> psycopg.Connection[Any]:
        return psycopg.connect(
            host="127.0.0.1", port=self.port, user=SUPERUSER, dbname="postgres", autocommit=True
        )

    def create_database(self, name: str, template: str | None = None) -> str:
        """Create an empty database (or a copy of ``template``) and return its SQLAlchemy URL."""
        with self._admin() as conn:
            stmt = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
            if template is not None:
                stmt = sql.SQL("{} TEMPLATE {}").format(stmt, sql.Identifier(template))
            if conn.info.server_version >= 150000:
                # Measured: on tmpfs FILE_COPY is ~2x faster than 15's default WAL_LOG; on disk the
                # reverse (FILE_COPY's checkpoints hit the disk).
                strategy = "FILE_COPY" if self.on_shm else "WAL_LOG"
                stmt = sql.SQL("{} STRATEGY {}").format(stmt, sql.SQL(strategy))
            conn.execute(stmt)
        return self.url(name)

    def drop_database(self, name: str) -> None:
        with self._admin() as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


_cluster: PgCluster | None = None
_failure: PgUnavailable | None = None
_start_lock = threading.Lock()


def get_cluster() -> PgCluster:
    """Start (once per process) and return the session's cluster; raises PgUnavailable."""
    global _cluster, _failure
    with _start_lock:
        if _cluster is not None:
            return _cluster
        if _failure is not None:
            raise _failure
        try:
            cluster = PgCluster(ensure_bindir())
            cluster.start()
        except PgUnavailable as exc:
            _failure = exc
            raise
        except (OSError, subprocess.SubprocessError) as exc:
            _failure = PgUnavailable(f"{type(exc).__name__}: {exc}")
            raise _failure from exc
        _cluster = cluster
        return cluster


def stop_cluster() -> None:
    global _cluster
    with _start_lock:
        if _cluster is not None:
            _cluster.stop()
            _cluster = None


def create_database(name: str) -> str:
    """Create an empty database in the session's cluster and return its URL."""
    return get_cluster().create_database(name)
