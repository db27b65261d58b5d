"""Delivery state in the database: message parts, early receipts, inbound parts; endpoint health

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)
SERIAL = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "message_parts",
        sa.Column("message_id", sa.String(length=40), nullable=False),
        sa.Column("part", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("connector", sa.String(length=64), nullable=False),
        sa.Column("carrier_id", sa.String(length=128), nullable=True),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("error_code", sa.String(length=40), nullable=True),
        sa.Column("error_message", sa.String(length=500), nullable=True),
        sa.Column("submitted_at", TS, nullable=True),
        sa.Column("reported_at", TS, nullable=True),
        sa.Column("decide_at", TS, nullable=True),
        sa.Column("detail", sa.JSON(none_as_null=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["message_id"], ["messages.id"], name=op.f("fk_message_parts_message_id_messages")
        ),
        sa.PrimaryKeyConstraint("message_id", "part", name=op.f("pk_message_parts")),
    )
    op.create_index("ix_message_parts_carrier", "message_parts", ["connector", "carrier_id"])
    op.create_index("ix_message_parts_decide", "message_parts", ["decide_at"])
    op.create_table(
        "early_receipts",
        sa.Column("id", SERIAL, autoincrement=True, nullable=False),
        sa.Column("connector", sa.String(length=64), nullable=False),
        sa.Column("carrier_id", sa.String(length=128), nullable=False),
        sa.Column("grp", sa.String(length=40), nullable=False),
        sa.Column("receipt", sa.JSON(), nullable=False),
        sa.Column("handset", sa.String(length=32), nullable=True),
        sa.Column("received_at", TS, nullable=False),
        sa.Column("expires_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_early_receipts")),
    )
    op.create_index("ix_early_receipts_carrier", "early_receipts", ["connector", "carrier_id"])
    op.create_index("ix_early_receipts_handset", "early_receipts", ["handset"])
    op.create_index("ix_early_receipts_expires", "early_receipts", ["expires_at"])
    op.create_table(
        "inbound_parts",
        sa.Column("connector", sa.String(length=64), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("number", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("from_addr", sa.String(length=32), nullable=False),
        sa.Column("to_addr", sa.String(length=32), nullable=False),
        sa.Column("raw", sa.JSON(none_as_null=True), nullable=True),
        sa.Column("received_at", TS, nullable=False),
        sa.Column("report_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("connector", "key", "number", name=op.f("pk_inbound_parts")),
    )
    op.create_index("ix_inbound_parts_report", "inbound_parts", ["report_at"])
    with op.batch_alter_table("webhook_endpoints") as batch:
        batch.add_column(sa.Column("failing_since", TS, nullable=True))
        batch.add_column(sa.Column("failures", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("probe_at", TS, nullable=True))
    # The parts of long SMPP messages lived here; they are message_parts rows now.
    op.drop_table("connector_memory")


def downgrade() -> None:
    op.create_table(
        "connector_memory",
        sa.Column("connector", sa.String(length=100), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("value", sa.JSON(), nullable=False),
        sa.Column("expires_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("connector", "key", name=op.f("pk_connector_memory")),
    )
    op.create_index("ix_connector_memory_expires", "connector_memory", ["expires_at"])
    with op.batch_alter_table("webhook_endpoints") as batch:
        batch.drop_column("probe_at")
        batch.drop_column("failures")
        batch.drop_column("failing_since")
    op.drop_table("inbound_parts")
    op.drop_table("early_receipts")
    op.drop_table("message_parts")
