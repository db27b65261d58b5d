"""Tracked links: short_links and link_clicks

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07 23:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "short_links",
        sa.Column("code", sa.String(length=16), primary_key=True),
        sa.Column("account_id", sa.String(length=40), sa.ForeignKey("accounts.id"), nullable=False),
        sa.Column("message_id", sa.String(length=40), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_short_links_message_id", "short_links", ["message_id"])
    op.create_table(
        "link_clicks",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("code", sa.String(length=16), sa.ForeignKey("short_links.code"), nullable=False),
        sa.Column("message_id", sa.String(length=40), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("agent_hash", sa.String(length=16), nullable=True),
    )
    op.create_index("ix_link_clicks_message_id", "link_clicks", ["message_id"])


def downgrade() -> None:
    op.drop_index("ix_link_clicks_message_id", table_name="link_clicks")
    op.drop_table("link_clicks")
    op.drop_index("ix_short_links_message_id", table_name="short_links")
    op.drop_table("short_links")
