"""endpoint formats and number scopes, delivery methods, opt-outs

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 09:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("webhook_endpoints") as batch:
        batch.add_column(sa.Column("format", sa.String(length=40), nullable=False, server_default="standard"))
        batch.add_column(sa.Column("number", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("options", sa.JSON(), nullable=True))
    with op.batch_alter_table("webhook_deliveries") as batch:
        batch.add_column(sa.Column("method", sa.String(length=6), nullable=False, server_default="POST"))
        batch.add_column(
            sa.Column("content_type", sa.String(length=100), nullable=True, server_default="application/json")
        )
        batch.add_column(sa.Column("target_url", sa.String(length=4000), nullable=True))
    op.create_table(
        "opt_outs",
        sa.Column("account_id", sa.String(length=40), nullable=False),
        sa.Column("number", sa.String(length=32), nullable=False),
        sa.Column("keyword", sa.String(length=20), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_opt_outs_account_id_accounts")
        ),
        sa.PrimaryKeyConstraint("account_id", "number", name=op.f("pk_opt_outs")),
    )


def downgrade() -> None:
    op.drop_table("opt_outs")
    with op.batch_alter_table("webhook_deliveries") as batch:
        batch.drop_column("target_url")
        batch.drop_column("content_type")
        batch.drop_column("method")
    with op.batch_alter_table("webhook_endpoints") as batch:
        batch.drop_column("options")
        batch.drop_column("number")
        batch.drop_column("format")
