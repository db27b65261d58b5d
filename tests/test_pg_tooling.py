"""Proves the test tooling gives a real PostgreSQL server (plain SQLAlchemy, not textgate's store)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from tests.pg import PgCluster


@pytest.fixture
def sa_engine(db_url: str) -> Iterator[sa.Engine]:
    eng = sa.create_engine(db_url, poolclass=NullPool)
    yield eng
    eng.dispose()


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_is_real_postgresql(sa_engine: sa.Engine, request: pytest.FixtureRequest) -> None:
    assert request.node.get_closest_marker("postgres") is not None
    assert sa_engine.url.drivername == "postgresql+psycopg"
    assert sa_engine.url.host == "127.0.0.1"
    with sa_engine.connect() as conn:
        version = conn.execute(sa.text("SELECT version()")).scalar_one()
        assert version.startswith("PostgreSQL"), version
        assert conn.execute(sa.text("SELECT current_database()")).scalar_one() == sa_engine.url.database
        # fresh and empty
        tables = conn.execute(
            sa.text("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'")
        ).scalar_one()
        assert tables == 0


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_for_update_skip_locked(sa_engine: sa.Engine) -> None:
    with sa_engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE jobs (id integer PRIMARY KEY, state text NOT NULL)"))
        conn.execute(sa.text("INSERT INTO jobs VALUES (1, 'queued'), (2, 'queued'), (3, 'queued')"))

    claim = sa.text("SELECT id FROM jobs WHERE state = 'queued' ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED")
    with sa_engine.connect() as a, sa_engine.connect() as b:
        with a.begin():
            assert a.execute(claim).scalar_one() == 1
            with b.begin():
                assert b.execute(claim).scalar_one() == 2  # row 1 is locked by a: skipped
                with pytest.raises(sa.exc.OperationalError, match="could not obtain lock"):
                    b.execute(sa.text("SELECT id FROM jobs WHERE id = 1 FOR UPDATE NOWAIT"))
        # a committed: row 1 is free again
        with b.begin():
            assert b.execute(claim).scalar_one() == 1


def test_databases_are_separate(pg_cluster: PgCluster, request: pytest.FixtureRequest) -> None:
    assert request.node.get_closest_marker("postgres") is not None
    url_a = pg_cluster.create_database("tooling_a")
    url_b = pg_cluster.create_database("tooling_b")
    try:
        assert url_a != url_b
        assert url_a.startswith(f"postgresql+psycopg://postgres@127.0.0.1:{pg_cluster.port}/")
        for url, table in ((url_a, "only_in_a"), (url_b, "only_in_b")):
            eng = sa.create_engine(url, poolclass=NullPool)
            with eng.begin() as conn:
                conn.execute(sa.text(f"CREATE TABLE {table} (x integer)"))
                names = set(sa.inspect(conn).get_table_names())
            eng.dispose()
            assert names == {table}
    finally:
        pg_cluster.drop_database("tooling_a")
        pg_cluster.drop_database("tooling_b")


def test_db_url_runs_on_both_backends(sa_engine: sa.Engine, request: pytest.FixtureRequest) -> None:
    backend = request.node.callspec.params["db_url"]
    assert sa_engine.dialect.name == backend
    assert (request.node.get_closest_marker("postgres") is not None) == (backend == "postgresql")
    with sa_engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE t (id integer PRIMARY KEY, body text)"))
        conn.execute(sa.text("INSERT INTO t VALUES (1, 'héllo ☃')"))
    with sa_engine.connect() as conn:
        assert conn.execute(sa.text("SELECT body FROM t WHERE id = 1")).scalar_one() == "héllo ☃"
