"""Tables, as SQLAlchemy Core metadata. Alembic migrations under ``migrations/`` create them.

Times are stored as aware UTC datetimes (``DateTime(timezone=True)``). Money is whole credits (integers).
The ``messages`` table is also the dispatch queue: ``due_at`` is set while a message needs work (first
send, retry, scheduled time) and, while a worker holds it, is pushed forward to the lease's end — a worker
that dies simply lets ``due_at`` pass and another claims the message.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Double,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

#: Timestamp texts remembered by the SQLite result processor (see ``UTCDateTime.result_processor``).
RESULT_MEMO = 512


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every backend.

    PostgreSQL stores ``timestamptz``. SQLite has no time type: there the value is UTC text in exactly the
    format SQLAlchemy's own SQLite ``DATETIME`` writes (``2026-03-15 14:30:00.000000``), produced and
    parsed here directly because the generic path costs more than the insert on hot paths.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> Any:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(32))
        return dialect.type_descriptor(DateTime(timezone=True))

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        if value.tzinfo is not UTC:
            value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None).isoformat(" ", "microseconds")
        return value

    # The processors SQLAlchemy runs per row and column. A batch writes the same ``now`` object into many
    # rows (and reads many equal timestamps back), so each keeps its last answer: one (value, result)
    # pair swapped as a whole, which stays correct when several database threads share it.
    def bind_processor(self, dialect: Dialect) -> Callable[[Any], Any] | None:
        if dialect.name != "sqlite":
            return super().bind_processor(dialect)
        memo: tuple[Any, Any] = (None, None)

        def process(value: datetime | None) -> str | None:
            nonlocal memo
            if value is None:
                return None
            seen = memo
            if value is seen[0]:
                return seen[1]  # type: ignore[no-any-return]
            if value.tzinfo is not UTC:
                if value.tzinfo is None:
                    raise ValueError("naive datetime given to a UTC column")
                value = value.astimezone(UTC)
            text = value.isoformat(" ", "microseconds")[:26]  # without the "+00:00"
            memo = (value, text)
            return text

        return process

    def result_processor(self, dialect: Dialect, coltype: Any) -> Callable[[Any], Any] | None:
        if dialect.name != "sqlite":
            return super().result_processor(dialect, coltype)
        # One processor serves every timestamp column, and a batch's rows repeat a few values (created,
        # updated, due) in turn: a small table of recent texts, emptied when full, catches them all.
        # The datetimes are immutable, so handing one out twice is safe.
        seen: dict[Any, datetime] = {}

        def process(value: Any) -> datetime | None:
            if value is None:
                return None
            result = seen.get(value)
            if result is not None:
                return result
            if isinstance(value, str):
                result = datetime.fromisoformat(value).replace(tzinfo=UTC)
            else:
                result = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
            if len(seen) >= RESULT_MEMO:
                seen.clear()
            seen[value] = result
            return result

        return process

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, str):
            return datetime.fromisoformat(value).replace(tzinfo=UTC)
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

TS = UTCDateTime()
# Autoincrement integer keys: BIGINT on PostgreSQL, INTEGER (the rowid alias) on SQLite.
SERIAL = BigInteger().with_variant(Integer(), "sqlite")

accounts = Table(
    "accounts",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("parent_id", String(40), ForeignKey("accounts.id"), nullable=True),
    Column("status", String(20), nullable=False, default="active"),
    Column("region", String(2), nullable=False),
    Column("balance", BigInteger, nullable=False, default=0),
    Column("price_sms_part", Integer, nullable=False, default=1),
    Column("price_mms", Integer, nullable=False, default=3),
    Column("owned_senders_only", Boolean, nullable=False, default=False),
    Column("settings", JSON, nullable=False, default=dict),
    Column("created_at", TS, nullable=False),
    # Sign-in name of a user (sub-accounts are created with one; unique across the gateway when set).
    Column("username", String(100), nullable=True, unique=True),
    # Hash of the user's password (argon2 via pwdlib; "scrypt$..." from earlier versions), when it has one.
    Column("password_hash", String(200), nullable=True),
    # "admin" users may create users and transfer credits to their children; "normal" ones may not.
    Column("access_level", String(10), nullable=False, server_default="admin"),
    # first_name, last_name, email, telephone, credit_reminder, alert_days: what the account's owner told us.
    Column("profile", JSON(none_as_null=True), nullable=True),
)
# Top-level account names are unique regardless of case (the CLI names accounts by them); users are named
# by their usernames. The service checks first; this index stops two concurrent creates both passing.
Index(
    "uq_accounts_top_level_name",
    func.lower(accounts.c.name),
    unique=True,
    sqlite_where=accounts.c.parent_id.is_(None),
    postgresql_where=accounts.c.parent_id.is_(None),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("account_id", String(40), ForeignKey("accounts.id"), nullable=False, index=True),
    Column("name", String(200), nullable=True, unique=True),
    # SHA-256 of the secret. Secrets are 190-bit random tokens, so a fast hash is safe and keeps auth cheap.
    Column("secret_hash", String(64), nullable=False, unique=True),
    Column("created_at", TS, nullable=False),
    Column("revoked_at", TS, nullable=True),
    # Per-key answer options, e.g. {"bestsms_answers": "plain"} (service.accounts.KEY_OPTIONS); NULL: none.
    Column("options", JSON(none_as_null=True), nullable=True),
)

numbers = Table(
    "numbers",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("account_id", String(40), ForeignKey("accounts.id"), nullable=False, index=True),
    Column("number", String(20), nullable=False, unique=True),
    Column("status", String(20), nullable=False, default="active"),
    Column("settings", JSON, nullable=False, default=dict),
    Column("created_at", TS, nullable=False),
)

ledger_entries = Table(
    "ledger_entries",
    metadata,
    Column("id", SERIAL, primary_key=True, autoincrement=True),
    Column("account_id", String(40), ForeignKey("accounts.id"), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("balance_after", BigInteger, nullable=False),
    Column("kind", String(20), nullable=False),
    Column("message_id", String(40), nullable=True),
    Column("note", String(200), nullable=True),
    # What else the entry belongs to: a credit transfer (``ctr_…``) or a bulk send (``bul_…``).
    Column("ref", String(40), nullable=True),
    Column("created_at", TS, nullable=False),
    # A message is debited once and refunded at most once, whatever retries or crashes happen.
    UniqueConstraint("message_id", "kind", name="uq_ledger_entries_message_kind"),
    Index("ix_ledger_entries_account", "account_id", "id"),
    Index("ix_ledger_entries_ref", "ref"),
)

messages = Table(
    "messages",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("account_id", String(40), ForeignKey("accounts.id"), nullable=False),
    Column("direction", String(10), nullable=False),
    Column("type", String(5), nullable=False),
    Column("from_addr", String(32), nullable=False),
    Column("to_addr", String(32), nullable=False),
    Column("body", Text, nullable=False),
    Column("media", JSON(none_as_null=True), nullable=True),
    Column("encoding", String(5), nullable=False),
    Column("segments", Integer, nullable=False),
    Column("credits", Integer, nullable=False),
    Column("status", String(12), nullable=False),
    Column("error_code", String(40), nullable=True),
    Column("error_message", String(500), nullable=True),
    Column("client_ref", String(200), nullable=True),
    Column("batch_id", String(40), nullable=True),
    Column("connector", String(64), nullable=True),
    Column("carrier_id", String(128), nullable=True),
    Column("attempts", Integer, nullable=False, default=0),
    Column("due_at", TS, nullable=True),
    Column("lease_owner", String(64), nullable=True),
    Column("schedule_at", TS, nullable=True),
    Column("expires_at", TS, nullable=True),
    Column("created_at", TS, nullable=False),
    Column("updated_at", TS, nullable=False),
    Column("sent_at", TS, nullable=True),
    Column("delivered_at", TS, nullable=True),
    Column("meta", JSON(none_as_null=True), nullable=True),
    Index("ix_messages_due", "due_at"),
    Index("ix_messages_account_created", "account_id", "created_at", "id"),
    Index("ix_messages_carrier", "connector", "carrier_id"),
    Index("ix_messages_batch", "batch_id", "status"),
    # Per-recipient daily limits count an account's messages to one number since the start of its day.
    Index("ix_messages_account_to", "account_id", "to_addr", "created_at"),
    # The dashboard: an account's messages of one status newest first (recent failures, the status
    # filter), and the overview's counts by status over a period answered from this index alone.
    Index("ix_messages_account_status_created", "account_id", "status", "created_at", "id", "direction"),
)

message_events = Table(
    "message_events",
    metadata,
    Column("id", SERIAL, primary_key=True, autoincrement=True),
    Column("message_id", String(40), ForeignKey("messages.id"), nullable=False),
    Column("status", String(12), nullable=False),
    Column("at", TS, nullable=False),
    Column("source", String(40), nullable=False),
    Column("error_code", String(40), nullable=True),
    Column("detail", JSON(none_as_null=True), nullable=True),
    Index("ix_message_events_message", "message_id", "id"),
)

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("account_id", String(40), ForeignKey("accounts.id"), primary_key=True),
    Column("scope", String(40), primary_key=True),
    Column("key", String(255), primary_key=True),
    Column("request_hash", String(64), nullable=False),
    Column("status_code", Integer, nullable=False),
    Column("response", JSON, nullable=False),
    Column("created_at", TS, nullable=False),
)

webhook_endpoints = Table(
    "webhook_endpoints",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("account_id", String(40), ForeignKey("accounts.id"), nullable=False, index=True),
    Column("url", String(2000), nullable=False),
    Column("events", JSON, nullable=False),
    # Kept readable: the gateway signs with it. It is shown to the account that owns the endpoint only.
    Column("secret", String(300), nullable=False),  # encrypted ("enc1:..."), or as is without a key
    # How events are rendered for this endpoint: "standard" (signed JSON) or a provider's own format.
    Column("format", String(40), nullable=False, server_default="standard"),
    # When set, only events about this owned number (inbound to it, outbound from it) are sent here.
    Column("number", String(32), nullable=True),
    # Format-specific options (e.g. credentials a provider echoes, a time zone, GET vs POST).
    Column("options", JSON(none_as_null=True), nullable=True),
    # When set, message.status events are sent only for these statuses (e.g. only final ones).
    Column("statuses", JSON(none_as_null=True), nullable=True),
    Column("created_at", TS, nullable=False),
    Column("deleted_at", TS, nullable=True),
    # While the receiver fails: since when, how many failures in a row, and when the next probe (one
    # delivery) may go; the others wait for it. A success clears them and releases every waiting delivery.
    Column("failing_since", TS, nullable=True),
    Column("failures", Integer, nullable=False, server_default="0"),
    Column("probe_at", TS, nullable=True),
)

webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("seq", SERIAL, primary_key=True, autoincrement=True),
    Column("id", String(40), nullable=False, unique=True),
    Column("endpoint_id", String(40), ForeignKey("webhook_endpoints.id"), nullable=False),
    Column("account_id", String(40), nullable=False),
    # Deliveries with the same ordering key go out one at a time, in ``seq`` order.
    Column("order_key", String(40), nullable=False),
    Column("event_type", String(40), nullable=False),
    Column("payload", Text, nullable=False),
    Column("method", String(6), nullable=False, server_default="POST"),
    Column("content_type", String(100), nullable=True, server_default="application/json"),
    # The URL for this delivery when the format puts data in it (a query string); else the endpoint's.
    Column("target_url", String(4000), nullable=True),
    Column("status", String(12), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("due_at", TS, nullable=True),
    Column("give_up_at", TS, nullable=False),
    Column("last_status_code", Integer, nullable=True),
    Column("last_error", String(500), nullable=True),
    Column("created_at", TS, nullable=False),
    Column("delivered_at", TS, nullable=True),
    Index("ix_webhook_deliveries_due", "due_at"),
    Index("ix_webhook_deliveries_order", "endpoint_id", "order_key", "status", "seq"),
)

webhook_attempts = Table(
    "webhook_attempts",
    metadata,
    Column("id", SERIAL, primary_key=True, autoincrement=True),
    Column("delivery_id", String(40), nullable=False, index=True),
    Column("at", TS, nullable=False),
    Column("status_code", Integer, nullable=True),
    Column("error", String(500), nullable=True),
    Column("duration_ms", Integer, nullable=False),
)

# Recipients who answered STOP to an account: no more messages from that account until START.
opt_outs = Table(
    "opt_outs",
    metadata,
    Column("account_id", String(40), ForeignKey("accounts.id"), primary_key=True),
    Column("number", String(32), primary_key=True),
    Column("keyword", String(20), nullable=False),
    Column("created_at", TS, nullable=False),
)

# Uploaded MMS content, stored once however many recipients reference it.
media_objects = Table(
    "media_objects",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("account_id", String(40), ForeignKey("accounts.id"), nullable=False),
    Column("content_type", String(100), nullable=False),
    Column("filename", String(255), nullable=True),
    Column("size", Integer, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("data", LargeBinary, nullable=False),
    Column("created_at", TS, nullable=False),
)

# The simulator carrier's own memory of what it still has to report. A real carrier keeps this on its
# side; the simulator keeps it in the gateway's database so a gateway restart does not lose reports.
simulator_events = Table(
    "simulator_events",
    metadata,
    Column("id", SERIAL, primary_key=True, autoincrement=True),
    Column("kind", String(10), nullable=False),
    Column("carrier_id", String(128), nullable=True),
    Column("payload", JSON, nullable=False),
    Column("due_at", TS, nullable=True),
    Index("ix_simulator_events_due", "due_at"),
)


# Numbers an account never sends to (its blacklist); a send to one is refused per recipient.
blocked_numbers = Table(
    "blocked_numbers",
    metadata,
    Column("account_id", String(40), ForeignKey("accounts.id"), primary_key=True),
    Column("number", String(32), primary_key=True),
    Column("note", String(200), nullable=True),
    Column("created_at", TS, nullable=False),
)

# The address book: contacts, and groups of them.
contacts = Table(
    "contacts",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("account_id", String(40), ForeignKey("accounts.id"), nullable=False),
    Column("name", String(200), nullable=False),
    Column("number", String(32), nullable=False),
    Column("email", String(320), nullable=True),
    Column("created_at", TS, nullable=False),
    Index("ix_contacts_account_number", "account_id", "number"),
    Index("ix_contacts_account_name", "account_id", "name"),
)

contact_groups = Table(
    "contact_groups",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("account_id", String(40), ForeignKey("accounts.id"), nullable=False),
    Column("name", String(100), nullable=False),
    Column("created_at", TS, nullable=False),
    UniqueConstraint("account_id", "name", name="uq_contact_groups_account_name"),
)

group_members = Table(
    "group_members",
    metadata,
    Column("group_id", String(40), ForeignKey("contact_groups.id"), primary_key=True),
    Column("contact_id", String(40), ForeignKey("contacts.id"), primary_key=True),
    Index("ix_group_members_contact", "contact_id"),
)

# Distribution lists: numbers with a name, an email and up to five mail-merge fields each.
dist_lists = Table(
    "dist_lists",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("account_id", String(40), ForeignKey("accounts.id"), nullable=False),
    Column("name", String(100), nullable=False),
    # Labels of the mail-merge fields MM1..MM5 (e.g. ["Company", "Town"]); values live on the entries.
    Column("field_names", JSON, nullable=False, default=list),
    Column("created_at", TS, nullable=False),
    UniqueConstraint("account_id", "name", name="uq_dist_lists_account_name"),
)

list_entries = Table(
    "list_entries",
    metadata,
    Column("id", SERIAL, primary_key=True, autoincrement=True),
    Column("list_id", String(40), ForeignKey("dist_lists.id"), nullable=False),
    Column("number", String(32), nullable=False),
    Column("name", String(200), nullable=True),
    Column("email", String(320), nullable=True),
    # Up to five mail-merge values, in the order of the list's field_names.
    Column("fields", JSON, nullable=False, default=list),
    Column("created_at", TS, nullable=False),
    UniqueConstraint("list_id", "number", name="uq_list_entries_list_number"),
)

# Credits moved between a parent account and one of its children; each has a ledger entry on both sides.
credit_transfers = Table(
    "credit_transfers",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("from_account_id", String(40), ForeignKey("accounts.id"), nullable=False),
    Column("to_account_id", String(40), ForeignKey("accounts.id"), nullable=False),
    Column("amount", BigInteger, nullable=False),
    # The parent that asked for it (transfers are always made by the parent, in either direction).
    Column("created_by", String(40), nullable=False),
    Column("note", String(200), nullable=True),
    Column("created_at", TS, nullable=False),
    Index("ix_credit_transfers_from", "from_account_id", "created_at"),
    Index("ix_credit_transfers_to", "to_account_id", "created_at"),
)

# A send to a group or list. Its recipients are copied at acceptance (``bulk_recipients``); the bulk worker
# turns them into messages (``batch_id`` = the bulk send's id) a chunk at a time, so a large send never
# holds the database or floods the queue ahead of other accounts' traffic. ``due_at`` is its queue + lease.
bulk_sends = Table(
    "bulk_sends",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("account_id", String(40), ForeignKey("accounts.id"), nullable=False),
    Column("target_kind", String(10), nullable=False),
    Column("target_id", String(40), nullable=False),
    Column("target_name", String(100), nullable=False),
    Column("status", String(12), nullable=False),
    Column("total", Integer, nullable=False),
    Column("expanded", Integer, nullable=False, default=0),
    # What every message of the send is: sender, body, encoding, segments, type, credits, schedule, ...
    Column("spec", JSON, nullable=False),
    Column("reserved", BigInteger, nullable=False, default=0),
    Column("due_at", TS, nullable=True),
    Column("created_at", TS, nullable=False),
    Column("finished_at", TS, nullable=True),
    Index("ix_bulk_sends_due", "due_at"),
    Index("ix_bulk_sends_account_created", "account_id", "created_at"),
)

bulk_recipients = Table(
    "bulk_recipients",
    metadata,
    Column("bulk_id", String(40), ForeignKey("bulk_sends.id"), primary_key=True),
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("number", String(32), nullable=False),
    # A mail-merge send's text for this recipient, measured and priced when the send was accepted
    # (NULL for a send without placeholders: every recipient gets the send's own text).
    Column("body", Text, nullable=True),
    Column("encoding", String(10), nullable=True),
    Column("segments", Integer, nullable=True),
    Column("credits", Integer, nullable=True),
)


# Token buckets of the routing rate limits (per route, per account), shared by every gateway node on the
# database. ``tokens`` were left at ``stamp`` (epoch seconds); a round refills and takes in one UPDATE, and
# leaves what it was granted in ``granted`` for RETURNING (see textgate.routing.ratelimit).
rate_buckets = Table(
    "rate_buckets",
    metadata,
    Column("key", String(200), primary_key=True),
    Column("tokens", Double, nullable=False),
    Column("stamp", Double, nullable=False),
    Column("granted", Integer, nullable=False, default=0),
)

# The parts of a multi-part message, once a carrier has seen them: each part is retried on its own (with the
# same concatenation reference) and reports its own receipt; the message's status rolls up from them.
# ``status``: sent (taken), unknown (written, no answer), then what the part's receipt said.
message_parts = Table(
    "message_parts",
    metadata,
    Column("message_id", String(40), ForeignKey("messages.id"), primary_key=True),
    Column("part", Integer, primary_key=True, autoincrement=False),
    Column("total", Integer, nullable=False),
    Column("connector", String(64), nullable=False),
    Column("carrier_id", String(128), nullable=True),
    Column("status", String(12), nullable=False),
    Column("error_code", String(40), nullable=True),
    Column("error_message", String(500), nullable=True),
    Column("submitted_at", TS, nullable=True),
    Column("reported_at", TS, nullable=True),
    # With the "all" roll-up: when this failed part decides the message if the others have not reported.
    Column("decide_at", TS, nullable=True),
    Column("detail", JSON(none_as_null=True), nullable=True),
    Index("ix_message_parts_carrier", "connector", "carrier_id"),
    Index("ix_message_parts_decide", "decide_at"),
)

# Receipts that came before any message or part had their carrier id (they overtook the submit's answer,
# or its round was not recorded yet): applied when one gets it. Every id a receipt may stand for (an SMSC
# may write it in decimal or hexadecimal) is a row; the rows of one receipt share ``grp``.
early_receipts = Table(
    "early_receipts",
    metadata,
    Column("id", SERIAL, primary_key=True, autoincrement=True),
    Column("connector", String(64), nullable=False),
    Column("carrier_id", String(128), nullable=False),
    Column("grp", String(40), nullable=False),
    Column("receipt", JSON, nullable=False),
    # The handset the receipt is about (the receipt's source): how a submission whose answer never came
    # can still be recognised (see service.receipts.settle_from_receipts).
    Column("handset", String(32), nullable=True),
    Column("received_at", TS, nullable=False),
    Column("expires_at", TS, nullable=False),
    Index("ix_early_receipts_carrier", "connector", "carrier_id"),
    Index("ix_early_receipts_handset", "handset"),
    Index("ix_early_receipts_expires", "expires_at"),
)

# Parts of multi-part inbound messages until their set is complete (or ``report_at`` passed: then what
# came is reported as it is).
inbound_parts = Table(
    "inbound_parts",
    metadata,
    Column("connector", String(64), primary_key=True),
    Column("key", String(200), primary_key=True),
    Column("number", Integer, primary_key=True, autoincrement=False),
    Column("total", Integer, nullable=False),
    Column("text", Text, nullable=False),
    Column("from_addr", String(32), nullable=False),
    Column("to_addr", String(32), nullable=False),
    Column("raw", JSON(none_as_null=True), nullable=True),
    Column("received_at", TS, nullable=False),
    Column("report_at", TS, nullable=False),
    Index("ix_inbound_parts_report", "report_at"),
)

# People who run the gateway: they sign in to the dashboard and see every account (web/dashboard).
operators = Table(
    "operators",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("username", String(100), nullable=False, unique=True),
    # A pwdlib (argon2) hash.
    Column("password_hash", String(200), nullable=False),
    Column("created_at", TS, nullable=False),
)

# Secrets the gateway makes for itself and every node must share: ``dashboard_session`` signs the
# dashboard's session cookies when no ``secret_key`` is configured.
gateway_secrets = Table(
    "gateway_secrets",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("value", String(200), nullable=False),
    Column("created_at", TS, nullable=False),
)

# Tracked links (accounts with the ``link_tracking`` setting): each http(s) link of an outbound message
# becomes ``{short_link_url}/l/{code}``; a visit is recorded and redirected (service/links.py).
short_links = Table(
    "short_links",
    metadata,
    Column("code", String(16), primary_key=True),
    Column("account_id", String(40), ForeignKey("accounts.id"), nullable=False),
    # No foreign key: in a group commit the message row is written in the same transaction, later.
    Column("message_id", String(40), nullable=False, index=True),
    Column("url", Text, nullable=False),
    Column("created_at", TS, nullable=False),
)

link_clicks = Table(
    "link_clicks",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("code", String(16), ForeignKey("short_links.code"), nullable=False),
    Column("message_id", String(40), nullable=False, index=True),
    Column("at", TS, nullable=False),
    # sha256 of the visitor's User-Agent, first 16 hex digits: tells visitors apart, keeps no header.
    Column("agent_hash", String(16), nullable=True),
)
