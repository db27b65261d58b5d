from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine

from textgate.store.migrate import current_revision, head_revision
from textgate.store.schema import metadata


def _flatten(diffs: list) -> list:  # type: ignore[type-arg]
    out = []
    for d in diffs:
        out.extend(d if isinstance(d, list) else [d])
    return out


# SQLite cannot reflect expression indexes (uq_accounts_top_level_name on lower(name)); that index is
# checked by behaviour in tests/store/test_account_names.py, and compared here on PostgreSQL.
@pytest.mark.filterwarnings("ignore:.*expression-based index:UserWarning")
@pytest.mark.filterwarnings("ignore:Skipped unsupported reflection of expression-based index")
def test_migrations_build_exactly_the_schema(engine: Engine) -> None:
    assert current_revision(engine) == head_revision()
    with engine.connect() as conn:
        diffs = _flatten(compare_metadata(MigrationContext.configure(conn), metadata))
    # UTCDateTime is stored as a plain timestamp type; everything else must match.
    real = [d for d in diffs if not (d[0] == "modify_type" and "UTCDateTime" in repr(d[-1]))]
    assert real == []


def test_serve_sets_up_an_empty_database_but_refuses_an_old_one(db_url: str) -> None:
    import pytest

    from textgate.bootstrap import DatabaseOutOfDate, prepare_database
    from textgate.store.db import make_engine
    from textgate.store.migrate import upgrade

    engine = make_engine(db_url)
    try:
        upgrade(engine, "0001")
        with pytest.raises(DatabaseOutOfDate, match="textgate db upgrade"):
            prepare_database(engine)
        upgrade(engine)
        prepare_database(engine)  # at head: fine
        assert current_revision(engine) == head_revision()
    finally:
        engine.dispose()
