"""Per-recipient text of mail-merge bulk sends

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 17:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_COLUMNS = (
    ("body", sa.Text()),
    ("encoding", sa.String(length=10)),
    ("segments", sa.Integer()),
    ("credits", sa.Integer()),
)


def upgrade() -> None:
    with op.batch_alter_table("bulk_recipients") as batch:
        for name, type_ in _COLUMNS:
            batch.add_column(sa.Column(name, type_, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("bulk_recipients") as batch:
        for name, _ in reversed(_COLUMNS):
            batch.drop_column(name)
