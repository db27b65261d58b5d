"""Per-key options; top-level account names unique regardless of case

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 21:00:00

``api_keys.options`` (JSON, nullable) holds per-key answer options such as ``{"bestsms_answers":
"plain"}``.

``uq_accounts_top_level_name`` is a unique index on ``lower(name)`` over accounts without a parent. The
service refused duplicates before, but two concurrent creates could both pass its check, so a database
may already hold top-level accounts whose names differ only in case (or not at all). The upgrade keeps
the oldest account of each such group as it is and renames the later ones by appending ``-2``, ``-3``...
(the first suffix no other top-level account uses), logging every rename, so it never fails on existing
data. Ids, keys and everything else are unchanged; only the names differ.
"""

from __future__ import annotations

import logging

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

log = logging.getLogger("textgate.store.migrations")

INDEX = "uq_accounts_top_level_name"
NAME_LENGTH = 200  # accounts.name is String(200)

_accounts = sa.table(
    "accounts",
    sa.column("id", sa.String),
    sa.column("name", sa.String),
    sa.column("parent_id", sa.String),
    sa.column("created_at", sa.String),
)


def _rename_duplicates(conn: sa.Connection) -> None:
    """Give later duplicates of a top-level name a free ``-N`` suffix. Names are compared with the
    database's own ``lower()``, the function the index uses, so the index can always be built."""
    key = sa.func.lower(_accounts.c.name)
    rows = conn.execute(
        sa.select(_accounts.c.id, _accounts.c.name, key.label("key"))
        .where(_accounts.c.parent_id.is_(None))
        .order_by(_accounts.c.created_at, _accounts.c.id)
    ).all()
    taken = {row.key for row in rows}
    seen: set[str] = set()
    for row in rows:
        if row.key not in seen:
            seen.add(row.key)
            continue
        n = 2
        while True:
            suffix = f"-{n}"
            candidate = row.name[: NAME_LENGTH - len(suffix)] + suffix
            candidate_key = conn.execute(sa.select(sa.func.lower(candidate))).scalar_one()
            if candidate_key not in taken:
                break
            n += 1
        conn.execute(sa.update(_accounts).where(_accounts.c.id == row.id).values(name=candidate))
        taken.add(candidate_key)
        seen.add(candidate_key)
        log.warning(
            "account %s: renamed %r to %r; another top-level account already had that name "
            "(names are unique regardless of case from now on)",
            row.id,
            row.name,
            candidate,
        )


def upgrade() -> None:
    with op.batch_alter_table("api_keys") as batch:
        batch.add_column(sa.Column("options", sa.JSON(none_as_null=True), nullable=True))
    _rename_duplicates(op.get_bind())
    op.create_index(
        INDEX,
        "accounts",
        [sa.text("lower(name)")],
        unique=True,
        sqlite_where=sa.text("parent_id IS NULL"),
        postgresql_where=sa.text("parent_id IS NULL"),
    )


def downgrade() -> None:
    op.drop_index(INDEX, table_name="accounts")
    with op.batch_alter_table("api_keys") as batch:
        batch.drop_column("options")
