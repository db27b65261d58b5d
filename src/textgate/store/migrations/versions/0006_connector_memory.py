"""connector_memory: what a connector must remember across restarts (the parts of long SMPP messages)

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22 17:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "connector_memory",
        sa.Column("connector", sa.String(length=100), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("value", sa.JSON(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("connector", "key", name=op.f("pk_connector_memory")),
    )
    with op.batch_alter_table("connector_memory") as batch_op:
        batch_op.create_index("ix_connector_memory_expires", ["expires_at"], unique=False)


def downgrade() -> None:
    op.drop_table("connector_memory")
