"""platform: users, contacts, groups, lists, transfers, bulk sends

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 10:58:02.346040
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "blocked_numbers",
        sa.Column("account_id", sa.String(length=40), nullable=False),
        sa.Column("number", sa.String(length=32), nullable=False),
        sa.Column("note", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_blocked_numbers_account_id_accounts")
        ),
        sa.PrimaryKeyConstraint("account_id", "number", name=op.f("pk_blocked_numbers")),
    )
    op.create_table(
        "bulk_sends",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("account_id", sa.String(length=40), nullable=False),
        sa.Column("target_kind", sa.String(length=10), nullable=False),
        sa.Column("target_id", sa.String(length=40), nullable=False),
        sa.Column("target_name", sa.String(length=100), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("expanded", sa.Integer(), nullable=False),
        sa.Column("spec", sa.JSON(), nullable=False),
        sa.Column("reserved", sa.BigInteger(), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_bulk_sends_account_id_accounts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bulk_sends")),
    )
    with op.batch_alter_table("bulk_sends", schema=None) as batch_op:
        batch_op.create_index("ix_bulk_sends_account_created", ["account_id", "created_at"], unique=False)
        batch_op.create_index("ix_bulk_sends_due", ["due_at"], unique=False)

    op.create_table(
        "contact_groups",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("account_id", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_contact_groups_account_id_accounts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contact_groups")),
        sa.UniqueConstraint("account_id", "name", name="uq_contact_groups_account_name"),
    )
    op.create_table(
        "contacts",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("account_id", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("number", sa.String(length=32), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_contacts_account_id_accounts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contacts")),
    )
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.create_index("ix_contacts_account_name", ["account_id", "name"], unique=False)
        batch_op.create_index("ix_contacts_account_number", ["account_id", "number"], unique=False)

    op.create_table(
        "credit_transfers",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("from_account_id", sa.String(length=40), nullable=False),
        sa.Column("to_account_id", sa.String(length=40), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("created_by", sa.String(length=40), nullable=False),
        sa.Column("note", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["from_account_id"], ["accounts.id"], name=op.f("fk_credit_transfers_from_account_id_accounts")
        ),
        sa.ForeignKeyConstraint(
            ["to_account_id"], ["accounts.id"], name=op.f("fk_credit_transfers_to_account_id_accounts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credit_transfers")),
    )
    with op.batch_alter_table("credit_transfers", schema=None) as batch_op:
        batch_op.create_index("ix_credit_transfers_from", ["from_account_id", "created_at"], unique=False)
        batch_op.create_index("ix_credit_transfers_to", ["to_account_id", "created_at"], unique=False)

    op.create_table(
        "dist_lists",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("account_id", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("field_names", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_dist_lists_account_id_accounts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dist_lists")),
        sa.UniqueConstraint("account_id", "name", name="uq_dist_lists_account_name"),
    )
    op.create_table(
        "bulk_recipients",
        sa.Column("bulk_id", sa.String(length=40), nullable=False),
        sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("number", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ["bulk_id"], ["bulk_sends.id"], name=op.f("fk_bulk_recipients_bulk_id_bulk_sends")
        ),
        sa.PrimaryKeyConstraint("bulk_id", "seq", name=op.f("pk_bulk_recipients")),
    )
    op.create_table(
        "group_members",
        sa.Column("group_id", sa.String(length=40), nullable=False),
        sa.Column("contact_id", sa.String(length=40), nullable=False),
        sa.ForeignKeyConstraint(
            ["contact_id"], ["contacts.id"], name=op.f("fk_group_members_contact_id_contacts")
        ),
        sa.ForeignKeyConstraint(
            ["group_id"], ["contact_groups.id"], name=op.f("fk_group_members_group_id_contact_groups")
        ),
        sa.PrimaryKeyConstraint("group_id", "contact_id", name=op.f("pk_group_members")),
    )
    with op.batch_alter_table("group_members", schema=None) as batch_op:
        batch_op.create_index("ix_group_members_contact", ["contact_id"], unique=False)

    op.create_table(
        "list_entries",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("list_id", sa.String(length=40), nullable=False),
        sa.Column("number", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("fields", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["list_id"], ["dist_lists.id"], name=op.f("fk_list_entries_list_id_dist_lists")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_list_entries")),
        sa.UniqueConstraint("list_id", "number", name="uq_list_entries_list_number"),
    )
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("username", sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column("password_hash", sa.String(length=200), nullable=True))
        batch_op.add_column(
            sa.Column("access_level", sa.String(length=10), server_default="admin", nullable=False)
        )
        batch_op.add_column(sa.Column("profile", sa.JSON(none_as_null=True), nullable=True))
        batch_op.create_unique_constraint(batch_op.f("uq_accounts_username"), ["username"])

    with op.batch_alter_table("ledger_entries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("ref", sa.String(length=40), nullable=True))
        batch_op.create_index("ix_ledger_entries_ref", ["ref"], unique=False)

    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.create_index("ix_messages_account_to", ["account_id", "to_addr", "created_at"], unique=False)
        batch_op.create_index("ix_messages_batch", ["batch_id", "status"], unique=False)
        batch_op.create_index("ix_messages_account_status", ["account_id", "status"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_index("ix_messages_account_status")
        batch_op.drop_index("ix_messages_batch")
        batch_op.drop_index("ix_messages_account_to")

    with op.batch_alter_table("ledger_entries", schema=None) as batch_op:
        batch_op.drop_index("ix_ledger_entries_ref")
        batch_op.drop_column("ref")

    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_accounts_username"), type_="unique")
        batch_op.drop_column("profile")
        batch_op.drop_column("access_level")
        batch_op.drop_column("password_hash")
        batch_op.drop_column("username")

    op.drop_table("list_entries")
    with op.batch_alter_table("group_members", schema=None) as batch_op:
        batch_op.drop_index("ix_group_members_contact")

    op.drop_table("group_members")
    op.drop_table("bulk_recipients")
    op.drop_table("dist_lists")
    with op.batch_alter_table("credit_transfers", schema=None) as batch_op:
        batch_op.drop_index("ix_credit_transfers_to")
        batch_op.drop_index("ix_credit_transfers_from")

    op.drop_table("credit_transfers")
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.drop_index("ix_contacts_account_number")
        batch_op.drop_index("ix_contacts_account_name")

    op.drop_table("contacts")
    op.drop_table("contact_groups")
    with op.batch_alter_table("bulk_sends", schema=None) as batch_op:
        batch_op.drop_index("ix_bulk_sends_due")
        batch_op.drop_index("ix_bulk_sends_account_created")

    op.drop_table("bulk_sends")
    op.drop_table("blocked_numbers")
