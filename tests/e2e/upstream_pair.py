"""Two real gateways for the upstream end-to-end tests: B plays the five upstream providers (six API
variants), A sends through all of them - six connectors, plus two holding a wrong credential.

B is a plain ``textgate serve`` on the simulator. Each of A's connectors has its **own account at B**, as
a customer has one account per provider: its own number, keys and webhook endpoint in that provider's
report format pointing at ``{A}/callbacks/{connector}``. One shared account would send every report in
every format to every callback URL, and each connector would answer the others' reports ``503`` (a
message it never sent), which B would keep retrying - noise that hides real failures.

A's accounts and B's accounts are set up through the service functions the CLI calls, in one transaction
per gateway: ~25 ``textgate`` CLI processes would cost half a minute per backend, and the CLI itself is
covered by its own tests. Everything after setup goes through the servers' HTTP surfaces and the CLI.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.e2e.harness import Receiver, Server, cli, wait_for
from textgate.bootstrap import prepare_database
from textgate.domain.clock import utcnow
from textgate.service.accounts import add_number, create_account, create_key
from textgate.store.db import make_engine
from textgate.webhooks.endpoints import create_endpoint

DESTINATION = "+15550000001"  # B's simulator delivers it
BESTSMS_REPORT_TOKEN = "report-token-e2e"
TEXTCONNECT_AUTH = "page-auth-e2e"
WRONG = "tgs_wrong_secret"


@dataclass(frozen=True)
class Upstream:
    """One of A's connectors and what a message through it must end as at A.

    ``events`` are the ``message.status`` events A's customer receives, in order; ``final`` is the
    status A's message must end in (and stay in)."""

    name: str
    type: str
    sender: str
    final: str
    events: tuple[str, ...]
    why: str


#: Per provider, what A can know about a message it handed over. The ``why`` is the provider's behaviour.
UPSTREAMS: tuple[Upstream, ...] = (
    Upstream(
        "tb2", "textbetter_v2", "+15551230001", "sent", ("sent",),
        "TextBetter sends no delivery reports: A's message stays sent (B's own record shows delivered)",
    ),
    Upstream(
        "tb1", "textbetter_v1", "+15551230002", "sent", ("sent",),
        "TextBetter v1 neither: no reports, and no id of its own (A's id is the carrier id)",
    ),
    Upstream(
        "bs", "bestsms", "+15551230003", "delivered", ("sent", "delivered"),
        "BestSMS pushes a JSON delivery report: SUCCESS -> delivered",
    ),
    Upstream(
        "tl", "textingline", "+15551230004", "sent", ("sent",),
        "TextingLine's status webhook says 'sent' for a delivered message: it has no delivered state",
    ),
    Upstream(
        "bt", "betatel", "+15551230005", "delivered", ("sent", "delivered"),
        "Betatel pushes Sent then Delivered events",
    ),
    Upstream(
        "tc", "textconnect", "+15551230006", "delivered", ("sent", "delivered"),
        "Text-Connect pushes nothing: A polls CheckMessageStatus",
    ),
)  # fmt: skip
BY_NAME = {u.name: u for u in UPSTREAMS}
#: The route with only a connector holding a wrong credential; and the failover route (wrong, then bt).
BAD_SENDER = "+15551230007"
FAILOVER_SENDER = "+15551230008"

#: B's webhook endpoint per connector type: (format, events, options).
B_HOOKS: Mapping[str, tuple[str, list[str], dict[str, str]]] = {
    "textbetter_v2": ("textbetter_v2", ["message.received"], {}),
    "textbetter_v1": ("textbetter_v1", ["message.received"], {}),
    "bestsms": ("bestsms_json", ["message.status"], {"token": BESTSMS_REPORT_TOKEN}),
    "textingline": ("textingline", ["message.status"], {}),
    "betatel": ("betatel", ["message.status", "message.received"], {}),
    "textconnect": ("textconnect", ["message.received"], {"auth": TEXTCONNECT_AUTH}),
}


@dataclass
class BAccount:
    """A's account at one upstream provider (one account at B)."""

    key_id: str
    secret: str
    named_key: str
    named_secret: str


def _setup(db_url: str, fn: Any) -> Any:
    engine = make_engine(db_url)
    try:
        prepare_database(engine)
        with engine.begin() as conn:
            return fn(conn)
    finally:
        engine.dispose()


def prepare_b(db_url: str, a_url: str) -> dict[str, BAccount]:
    """One B account per upstream connector, with its number, a named key and its report webhook."""

    def go(conn: Any) -> dict[str, BAccount]:
        now = utcnow()
        made: dict[str, BAccount] = {}
        for up in UPSTREAMS:
            account, key = create_account(conn, f"a-via-{up.name}", now=now, credits=1000)
            add_number(conn, account, up.sender, now=now)
            if up.name == "bt":  # the failover route's second connector sends from this number too
                add_number(conn, account, FAILOVER_SENDER, now=now)
            named = create_key(conn, account.id, now=now, name=f"api@{up.name}.example")
            fmt, events, options = B_HOOKS[up.type]
            create_endpoint(
                conn,
                account.id,
                f"{a_url}/callbacks/{up.name}",
                events,
                now=now,
                allow_private=True,
                format=fmt,
                options=options or None,
            )
            assert named.name is not None
            made[up.name] = BAccount(key.key_id, key.secret, named.name, named.secret)
        return made

    result: dict[str, BAccount] = _setup(db_url, go)
    return result


def prepare_a(db_url: str) -> str:
    """A's customer: one account owning every sender the routes look at. Returns its API secret."""

    def go(conn: Any) -> str:
        now = utcnow()
        account, key = create_account(conn, "acme", now=now, credits=1000)
        for number in [u.sender for u in UPSTREAMS] + [BAD_SENDER, FAILOVER_SENDER]:
            add_number(conn, account, number, now=now)
        return key.secret

    secret: str = _setup(db_url, go)
    return secret


def connector_table(up: Upstream, b_url: str, acct: BAccount, **over: Any) -> dict[str, Any]:
    """A's ``[[connectors]]`` table for ``up``, with A's credentials at B (docs/connectors.md)."""
    by_type: dict[str, dict[str, Any]] = {
        "textbetter_v2": {"key_id": acct.key_id, "api_key": acct.secret},
        "textbetter_v1": {"api_key": acct.secret},
        "bestsms": {
            "sender": acct.named_key,
            "token": acct.named_secret,
            "report_token": BESTSMS_REPORT_TOKEN,
        },
        "textingline": {"key_id": acct.key_id, "secret": acct.secret},
        "betatel": {"user_id": acct.key_id, "api_key": acct.secret},
        "textconnect": {"token": acct.secret, "poll_interval": 0.2, "callback_secret": TEXTCONNECT_AUTH},
    }
    own = by_type[up.type]
    # A short cooldown: after B comes back the breakers let a trial through within a second.
    return {"name": up.name, "type": up.type, "base_url": b_url, "cooldown": 1, **own, **over}


def a_config(a_url: str, b_url: str, accounts: Mapping[str, BAccount]) -> str:
    """A's TEXTGATE_CONFIG: the six connectors, two with a wrong credential, and the routes by sender."""
    connectors = [connector_table(u, b_url, accounts[u.name]) for u in UPSTREAMS]
    connectors.append(connector_table(BY_NAME["tl"], b_url, accounts["tl"], name="tl-bad", secret=WRONG))
    connectors.append(connector_table(BY_NAME["bs"], b_url, accounts["bs"], name="bs-bad", token=WRONG))
    routes: list[dict[str, Any]] = [
        {"name": "bad-credential", "senders": [BAD_SENDER], "connectors": ["tl-bad"]},
        {"name": "failover", "senders": [FAILOVER_SENDER], "connectors": ["bs-bad", "bt"]},
    ]
    routes += [{"name": f"via-{u.name}", "senders": [u.sender], "connectors": [u.name]} for u in UPSTREAMS]
    routes = [r for r in routes if r["name"] != "via-tl"]
    routes.append({"name": "default", "connectors": ["tl"]})  # the last route: no rules, TextingLine
    return "\n".join(
        [f"public_url = {json.dumps(a_url)}"]
        + [_toml_table("connectors", t) for t in connectors]
        + [_toml_table("routes", t) for t in routes]
    )


def _toml_table(array: str, table: Mapping[str, Any]) -> str:
    # JSON strings, numbers, booleans and flat lists of them are valid TOML values.
    return "\n".join([f"\n[[{array}]]", *(f"{k} = {json.dumps(v)}" for k, v in table.items())])


@dataclass
class Pair:
    """Gateway A (sending through B) and gateway B, both running; A's customer and its webhook receiver."""

    a: Server
    b: Server
    a_secret: str
    b_accounts: dict[str, BAccount]
    receiver: Receiver
    _sent: int = field(default=0)

    def send(self, sender: str, tag: str) -> tuple[str, str]:
        """A native API send on A; returns (A's message id, the unique body)."""
        self._sent += 1
        body = f"{tag} #{self._sent}"
        with self.a.client(self.a_secret) as api:
            answer = api.post("/v1/messages", json={"from": sender, "to": DESTINATION, "body": body})
        assert answer.status_code == 202, answer.text
        return str(answer.json()["messages"][0]["id"]), body

    def message(self, message_id: str) -> dict[str, Any]:
        with self.a.client(self.a_secret) as api:
            answer = api.get(f"/v1/messages/{message_id}")
        assert answer.status_code == 200, answer.text
        data: dict[str, Any] = answer.json()
        return data

    def timeline(self, message_id: str) -> list[dict[str, Any]]:
        with self.a.client(self.a_secret) as api:
            answer = api.get(f"/v1/messages/{message_id}/events")
        assert answer.status_code == 200, answer.text
        events: list[dict[str, Any]] = answer.json()["data"]
        return events

    def wait_status(self, message_id: str, status: str, timeout: float = 30) -> dict[str, Any]:
        seen: dict[str, Any] = {}

        def reached() -> bool:
            seen.update(self.message(message_id))
            return bool(seen["status"] == status)

        wait_for(reached, timeout=timeout, describe=lambda: (seen, self.timeline(message_id)))
        return seen

    def at_b(self, upstream: str, body: str) -> dict[str, Any] | None:
        """The message with ``body`` in the B account behind connector ``upstream``, as B lists it."""
        acct = self.b_accounts[upstream]
        with self.b.client(acct.secret) as api:
            answer = api.get("/v1/messages", params={"direction": "outbound", "limit": 500})
        assert answer.status_code == 200, answer.text
        found = [m for m in answer.json()["data"] if m["body"] == body]
        assert len(found) <= 1, f"{body!r} reached B {len(found)} times: {found}"
        return found[0] if found else None

    def wait_delivered_at_b(self, upstream: str, body: str) -> dict[str, Any]:
        """Until B's simulator has delivered the message with ``body``; B's view of it."""
        seen: dict[str, Any] = {}

        def delivered() -> bool:
            seen.clear()
            seen.update(self.at_b(upstream, body) or {})
            return seen.get("status") == "delivered"

        wait_for(delivered, describe=lambda: seen)
        return seen

    def wait_customer_events(self, message_id: str, want: Sequence[str]) -> None:
        """Until A's customer has received exactly ``want`` (message.status events, in order)."""
        wait_for(
            lambda: self.statuses_sent_to_customer(message_id) == list(want),
            describe=lambda: self.statuses_sent_to_customer(message_id),
        )

    def wait_deferred(self, message_id: str, times: int) -> None:
        """Until the message has gone back to the queue ``times`` times because no connector could take it
        (a wait, not an attempt)."""

        def deferred() -> bool:
            waits = [
                e
                for e in self.timeline(message_id)
                if e["status"] == "queued" and "no connector" in str((e["detail"] or {}).get("deferred"))
            ]
            return len(waits) >= times

        wait_for(deferred, describe=lambda: self.timeline(message_id))

    def statuses_sent_to_customer(self, message_id: str) -> list[str]:
        return [
            e["data"]["status"]
            for e in self.receiver.events()
            if e["type"] == "message.status" and e["data"]["id"] == message_id
        ]

    def routes(self) -> dict[str, Any]:
        listed: dict[str, Any] = json.loads(
            cli({**self.a.env, "TEXTGATE_URL": self.a.url}, "routes", "list", "--json")
        )
        return listed

    def healthz(self) -> dict[str, Any]:
        body: dict[str, Any] = httpx.get(f"{self.a.url}/healthz", timeout=5).json()
        return body


def start_pair(a_db: str, workdir: Path, receiver: Receiver) -> Pair:
    """B first (A's callback URLs are known before A starts: the port is chosen up front), then A."""
    config = workdir / "a.toml"
    a = Server(
        a_db,
        workdir,
        config=str(config),
        # Quick retries so a message waiting for B goes out within a second or two of B's return.
        retry_base_seconds="0.3",
        retry_max_seconds="1",
        max_attempts="100",
    )
    b_db = f"sqlite:///{workdir}/b.db"
    b = Server(b_db, workdir, sim_report_latency="0.1")
    accounts = prepare_b(b_db, a.url)
    b.start()
    config.write_text(a_config(a.url, b.url, accounts))
    a_secret = prepare_a(a_db)
    try:
        a.start()
    except BaseException:
        b.stop()
        raise
    pair = Pair(a, b, a_secret, accounts, receiver)
    with a.client(a_secret) as api:
        hook = api.post("/v1/webhooks", json={"url": receiver.url, "events": ["message.status"]})
    assert hook.status_code == 201, hook.text
    return pair


def stop_pair(pair: Pair) -> None:
    pair.a.stop()
    pair.b.stop()
