"""Dashboard: ix_messages_account_status_created (account, status, created, id, direction)

An account's messages of one status newest first (recent failures, the messages page's status filter)
as one range of this index, and the overview's counts by status over a period from the index alone.
Building it reads the whole messages table once (about 2 s for 1,000,000 messages on SQLite).
``ix_messages_account_status (account_id, status)`` is a prefix of it and is dropped: one index fewer to
update at every status change.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-08 00:00:00
"""

from __future__ import annotations

from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_messages_account_status_created",
        "messages",
        ["account_id", "status", "created_at", "id", "direction"],
    )
    op.drop_index("ix_messages_account_status", table_name="messages")


def downgrade() -> None:
    op.create_index("ix_messages_account_status", "messages", ["account_id", "status"])
    op.drop_index("ix_messages_account_status_created", table_name="messages")
