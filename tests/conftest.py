"""Shared fixtures: every storage-touching test takes ``db_url`` (or ``engine``) and runs twice,
once on SQLite and once on a real throwaway PostgreSQL (see tests/pg.py).

Quick local run without PostgreSQL:  scripts/test -m "not postgres"

Tests that take ``browser`` drive a real headless chromium (tests/e2e/browser.py); without it:
scripts/test -m "not browser", or TEXTGATE_TEST_BROWSER=skip.
"""

from __future__ import annotations

import contextlib
import itertools
import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests import needs, pg
from tests.e2e import browser as browsers

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
        if {"browser", "page"} & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.browser)


def pytest_report_header(config: pytest.Config) -> list[str]:
    return [
        f"textgate postgres tests: mode={pg.mode()} bindir={pg.find_bindir()}",
        f"textgate browser tests: mode={browsers.mode()} binaries={' '.join(map(str, browsers.binaries()))}",
    ]


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[pg.PgCluster]:
    """The session's PostgreSQL cluster; started on first request only."""
    try:
        cluster = pg.get_cluster()
    except pg.PgUnavailable as exc:
        needs.unavailable("PostgreSQL", "TEXTGATE_TEST_POSTGRES", exc)
    try:
        yield cluster
    finally:
        pg.stop_cluster()


@pytest.fixture
def browser() -> Iterator[browsers.Browser]:
    """A fresh headless chromium that reaches 127.0.0.1 only (tests/e2e/browser.py)."""
    with contextlib.ExitStack() as stack:
        try:
            opened = stack.enter_context(browsers.open_browser())
        except browsers.BrowserUnavailable as exc:
            needs.unavailable("the browser", "TEXTGATE_TEST_BROWSER", exc)
        yield opened


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[pytest.TestReport]:
    report = yield
    if report.when == "call":
        item.stash[_OUTCOME] = report
    return report


_OUTCOME = pytest.StashKey[pytest.TestReport]()


@pytest.fixture
def page(request: pytest.FixtureRequest) -> Iterator[object]:
    """A Playwright page in a fresh headless chromium that reaches 127.0.0.1 only (tests/e2e/pages.py);
    a screenshot and the HTML are saved when the test fails."""
    from tests.e2e import pages

    with contextlib.ExitStack() as stack:
        try:
            opened = stack.enter_context(pages.open_page())
        except browsers.BrowserUnavailable as exc:
            needs.unavailable("the browser", "TEXTGATE_TEST_BROWSER", exc)
        yield opened
        outcome = request.node.stash.get(_OUTCOME, None)
        if outcome is not None and outcome.failed:
            shot = pages.save_artifacts(opened, request.node.nodeid)
            print(f"screenshot of the failed test: {shot}")


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


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated to head once per session; each test gets a copy (migrating costs ~80 ms)."""
    from textgate.store.db import make_engine
    from textgate.store.migrate import upgrade

    path = tmp_path_factory.mktemp("template") / "textgate.db"
    eng = make_engine(f"sqlite:///{path}")
    try:
        upgrade(eng)
    finally:
        eng.dispose()
    with contextlib.closing(sqlite3.connect(path)) as raw:
        raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # everything in the main file, nothing in the WAL
    return path


@pytest.fixture(scope="session")
def migrated_pg(pg_cluster: pg.PgCluster) -> str:
    """A PostgreSQL database migrated to head once per session, used as the template of each test's."""
    from textgate.store.db import make_engine
    from textgate.store.migrate import upgrade

    name = "t_template"
    eng = make_engine(pg_cluster.create_database(name))
    try:
        upgrade(eng)
    finally:
        eng.dispose()  # a template may have no open connections
    return name


@pytest.fixture
def engine(request: pytest.FixtureRequest, db_url: str) -> Iterator[sqlalchemy.Engine]:
    """textgate's engine on a fresh database at the head revision (both backends): a copy of a database
    migrated once per session, which tests/store/test_migrations.py checks against the schema."""
    from textgate.store.db import make_engine

    if db_url.startswith("sqlite:///"):
        shutil.copyfile(request.getfixturevalue("migrated_sqlite"), db_url.removeprefix("sqlite:///"))
    else:
        cluster: pg.PgCluster = request.getfixturevalue("pg_cluster")
        template: str = request.getfixturevalue("migrated_pg")
        name = db_url.rsplit("/", 1)[1]
        cluster.drop_database(name)
        cluster.create_database(name, template=template)
    eng = make_engine(db_url)
    try:
        yield eng
    finally:
        eng.dispose()
