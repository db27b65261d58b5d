"""Shared fixtures: every storage-touching test takes ``db_url`` (or ``engine``) and runs twice,
once on SQLite and once on a real throwaway PostgreSQL (see tests/pg.py).

Quick local run without PostgreSQL:  scripts/test -m "not postgres"
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests import pg

if TYPE_CHECKING:
    import sqlalchemy

DB_BACKENDS = ["sqlite", "postgresql"]
_db_counter = itertools.count(1)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        callspec = getattr(item, "callspec", None)
        on_pg = callspec is not None and callspec.params.get("db_url") == "postgresql"
        if on_pg or "pg_cluster" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.postgres)


def pytest_report_header(config: pytest.Config) -> str:
    return f"textgate postgres tests: mode={pg.mode()} bindir={pg.find_bindir()}"


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[pg.PgCluster]:
    """The session's PostgreSQL cluster; started on first request only."""
    try:
        cluster = pg.get_cluster()
    except pg.PgUnavailable as exc:
        if pg.mode() == "required":
            pytest.fail(
                "PostgreSQL is required (TEXTGATE_TEST_POSTGRES=required or CI=true) "
                f"but unavailable:\n{exc}",
                pytrace=False,
            )
        pytest.skip(f"PostgreSQL unavailable: {exc}")
    try:
        yield cluster
    finally:
        pg.stop_cluster()


@pytest.fixture(params=DB_BACKENDS, ids=DB_BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """SQLAlchemy URL of a fresh, empty database: a SQLite file or a new PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/textgate.db"
        return
    if request.param != "postgresql":
        raise ValueError(f"unknown db backend {request.param!r}")
    cluster: pg.PgCluster = request.getfixturevalue("pg_cluster")
    name = f"t_{next(_db_counter)}"
    url = cluster.create_database(name)
    yield url
    cluster.drop_database(name)  # WITH (FORCE): also ends connections a test leaked


@pytest.fixture
def engine(db_url: str) -> Iterator[sqlalchemy.Engine]:
    """textgate's engine on a migrated fresh database (both backends)."""
    from textgate.store.db import make_engine
    from textgate.store.migrate import upgrade

    eng = make_engine(db_url)
    try:
        upgrade(eng)
        yield eng
    finally:
        eng.dispose()
