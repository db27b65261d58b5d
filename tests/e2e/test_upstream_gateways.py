"""Gateway A → upstream HTTP connector → gateway B, end to end through two real ``textgate serve`` processes.

A is configured by a TOML file (``TEXTGATE_CONFIG``) with six upstream connectors - ``textbetter_v2``,
``textbetter_v1``, ``bestsms``, ``textingline``, ``betatel``, ``textconnect`` - all pointing at B, and
routes by sender (the last route, with no rules, takes TextingLine's sender). B plays all six providers
with its dialects and delivers through its simulator; its webhooks, in each provider's report format,
call A's ``/callbacks/{name}``. A's customer sends with A's native API and gets A's standard webhooks.

What A's message ends as depends on what the provider tells (``upstream_pair.UPSTREAMS`` says why per
provider): ``delivered`` through BestSMS, Betatel and Text-Connect; ``sent`` through TextBetter (no
reports) and TextingLine (no delivered state). The test asserts exactly that, and that B's own record
shows every message delivered with from/to/body intact.

Failures: a connector with a wrong credential rejects the message with ``authentication``; with a second
connector on the route the message fails over to it in the same round. B stopped: messages wait
(retryable ``provider_error``) and are delivered once B is back.

The two servers are shared by the tests of the module (module-scoped); A runs on SQLite and on
PostgreSQL, B (the other party, not under test) on SQLite.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests import pg
from tests.e2e.harness import Receiver
from tests.e2e.upstream_pair import (
    BAD_SENDER,
    BY_NAME,
    DESTINATION,
    FAILOVER_SENDER,
    UPSTREAMS,
    Pair,
    start_pair,
    stop_pair,
)

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def pair(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    workdir = tmp_path_factory.mktemp(f"gateways-{request.param}")
    cluster: pg.PgCluster | None = None
    if request.param == "sqlite":
        a_db = f"sqlite:///{workdir}/a.db"
    else:
        cluster = request.getfixturevalue("pg_cluster")
        a_db = cluster.create_database("upstream_gateway_a")
    try:
        with Receiver() as receiver:
            started = start_pair(a_db, workdir, receiver)
            try:
                yield started
            finally:
                stop_pair(started)
    finally:
        if cluster is not None:
            cluster.drop_database("upstream_gateway_a")


def test_each_connector_carries_a_message_to_b_and_its_reports_back(pair: Pair) -> None:
    sent = {up.name: pair.send(up.sender, f"via {up.name}") for up in UPSTREAMS}

    for up in UPSTREAMS:
        message_id, body = sent[up.name]
        at_b = pair.wait_delivered_at_b(up.name, body)
        assert (at_b["from"], at_b["to"], at_b["body"]) == (up.sender, DESTINATION, body), up.name
        pair.wait_status(message_id, up.final)
        pair.wait_customer_events(message_id, up.events)

    # Every report B had to send has been taken by now (the last waits above came after B's deliveries),
    # so a final "sent" is final, not "not yet delivered".
    for up in UPSTREAMS:
        message_id, _ = sent[up.name]
        view = pair.message(message_id)
        assert (view["status"], view["error_code"]) == (up.final, None), (up.name, up.why)
        assert pair.statuses_sent_to_customer(message_id) == list(up.events), (up.name, up.why)

    listed = pair.routes()
    assert listed["gateway"]["reachable"] is True
    by_name = {c["name"]: c for c in listed["connectors"]}
    for up in UPSTREAMS:
        row = by_name[up.name]
        assert (row["type"], row["health"], row["breaker"]["state"]) == (up.type, "up", "closed"), row
    assert [r["name"] for r in listed["routes"]][-1] == "default"
    assert listed["routes"][-1] == {
        "name": "default",
        "rules": {},
        "strategy": "failover",
        "connectors": ["tl"],
    }


def test_a_wrong_credential_rejects_or_fails_over(pair: Pair) -> None:
    # Only the connector with the wrong credential on the route: refused, about our account at B.
    bad_id, bad_body = pair.send(BAD_SENDER, "wrong secret")
    rejected = pair.wait_status(bad_id, "rejected")
    assert rejected["error_code"] == "authentication"
    assert pair.at_b("tl", bad_body) is None
    pair.wait_customer_events(bad_id, ["rejected"])

    # Wrong credential first, Betatel second: the message goes to Betatel in the same round.
    over_id, over_body = pair.send(FAILOVER_SENDER, "failover")
    pair.wait_status(over_id, BY_NAME["bt"].final)
    landed = pair.at_b("bt", over_body)
    assert landed is not None and landed["from"] == FAILOVER_SENDER
    assert pair.at_b("bs", over_body) is None
    timeline = pair.timeline(over_id)
    assert [e["status"] for e in timeline] == ["queued", "sending", "sent", "delivered"], timeline
    assert timeline[2]["source"] == "submit:bt", timeline
    pair.wait_customer_events(over_id, ["sent", "delivered"])

    listed = {c["name"]: c for c in pair.routes()["connectors"]}
    for name in ("tl-bad", "bs-bad"):  # an upstream refusing our credential says it is down
        assert listed[name]["health"] == "down", listed[name]
    assert listed["bt"]["health"] == "up"


def test_messages_wait_while_b_is_down_and_go_when_it_is_back(pair: Pair) -> None:
    pair.b.stop()
    try:
        sent = {up.name: pair.send(up.sender, f"while B is down, via {up.name}") for up in UPSTREAMS}
        for up in UPSTREAMS:  # waiting, not failing: a carrier nobody can reach costs no attempt
            pair.wait_deferred(sent[up.name][0], times=2)
        for up in UPSTREAMS:
            view = pair.message(sent[up.name][0])
            assert view["status"] in ("queued", "sending"), view  # "sending": claimed for its next try
            assert view["error_code"] is None, view
            assert pair.statuses_sent_to_customer(view["id"]) == [], up.name  # waiting is not news
    finally:
        pair.b.start()

    for up in UPSTREAMS:
        message_id, body = sent[up.name]
        pair.wait_status(message_id, up.final)
        landed = pair.wait_delivered_at_b(up.name, body)
        assert (landed["from"], landed["to"]) == (up.sender, DESTINATION), up.name
        pair.wait_customer_events(message_id, up.events)  # the same as without the outage
