"""The router over fake members that record what they were given: failover never submits one message to
two carriers unless the first certainly did not take it, breakers keep failing members out, each
accepted message names the member that took it."""

from __future__ import annotations

import asyncio
from collections import Counter

from tests.routing.fakes import (
    FakeConnector,
    Tick,
    invalid_destination,
    member,
    message,
    refused_connection,
    throttled,
    timed_out_after_sending,
)
from textgate.domain.errors import CarrierError, ErrorKind
from textgate.providers.base import Deferred, Health, OutboundMessage, SubmitOutcome, Submitted
from textgate.routing.config import RouteSpec, Strategy
from textgate.routing.router import FailoverPolicy, Router


def pair(a: FakeConnector, b: FakeConnector, *, tick: Tick | None = None, threshold: int = 3) -> Router:
    return Router(
        [member(a, threshold=threshold, clock=tick), member(b, threshold=threshold, clock=tick)],
        [RouteSpec("r", (a.name, b.name), Strategy.FAILOVER)],
    )


def submit(router: Router, messages: list[OutboundMessage]) -> list[SubmitOutcome]:
    return asyncio.run(router.submit_many(messages))


def test_a_refusal_that_left_the_message_untaken_fails_over_in_the_same_round() -> None:
    for refusal in (throttled, refused_connection):
        a = FakeConnector("a", lambda m, refusal=refusal: refusal())
        b = FakeConnector("b")
        msgs = [message() for _ in range(3)]
        outcomes = submit(pair(a, b), msgs)
        assert outcomes == [Submitted(f"b-{m.id}", "b") for m in msgs]
        assert a.calls == [[m.id for m in msgs]]  # one call per member per round
        assert b.calls == [[m.id for m in msgs]]


def test_an_ambiguous_failure_is_not_failed_over_it_is_retried_later() -> None:
    a = FakeConnector("a", lambda m: timed_out_after_sending())
    b = FakeConnector("b")
    m = message()
    (outcome,) = submit(pair(a, b), [m])
    assert isinstance(outcome, CarrierError) and outcome.retryable
    assert "no answer in time" in outcome.message
    assert a.submitted == [m.id] and b.submitted == []  # never in flight at two carriers


def test_a_permanent_refusal_is_final_but_one_about_our_account_fails_over() -> None:
    a = FakeConnector("a", lambda m: invalid_destination() if m.to_addr.endswith("1") else None)
    b = FakeConnector("b")
    bad, good = message("+447400000001"), message("+447400000002")
    refused, accepted = submit(pair(a, b), [bad, good])
    assert isinstance(refused, CarrierError) and refused.kind is ErrorKind.INVALID_DESTINATION
    assert accepted == Submitted(f"a-{good.id}", "a")
    assert b.submitted == []

    creds = CarrierError("bad key", kind=ErrorKind.AUTHENTICATION, retryable=False)
    a2, b2 = FakeConnector("a", lambda m: creds), FakeConnector("b")
    assert submit(pair(a2, b2), [good]) == [Submitted(f"b-{good.id}", "b")]


def test_the_last_member_refusing_ends_the_round_with_its_error() -> None:
    a = FakeConnector("a", lambda m: throttled())
    b = FakeConnector("b", lambda m: throttled())
    (outcome,) = submit(pair(a, b), [message()])
    assert isinstance(outcome, CarrierError) and outcome.kind is ErrorKind.THROTTLED and outcome.retryable
    assert len(a.submitted) == len(b.submitted) == 1


def busy() -> CarrierError:
    """The SMSC answered the submit with an error it may not give next time (ESME_RSUBMITFAIL)."""
    return CarrierError("submit failed", kind=ErrorKind.PROVIDER_ERROR, retryable=True, command_status=0x45)


def test_throttles_never_open_a_breaker_and_go_on_to_the_next_member() -> None:
    a = FakeConnector("a", lambda m: throttled())
    b = FakeConnector("b")
    router = pair(a, b, threshold=3)
    msgs = [message() for _ in range(10)]
    assert submit(router, msgs) == [Submitted(f"b-{m.id}", "b") for m in msgs]
    assert router.members["a"].breaker.state.value == "closed"  # flow control, not a failure
    assert len(a.submitted) == 10  # still tried: it was only busy


def test_a_failing_member_is_skipped_while_its_breaker_is_open_then_tried_once() -> None:
    tick = Tick()
    failing = True
    a = FakeConnector("a", lambda m: busy() if failing else None)
    b = FakeConnector("b")
    router = pair(a, b, tick=tick, threshold=3)
    submit(router, [message() for _ in range(3)])  # three refusals in a row open a's breaker
    assert router.members["a"].breaker.state.value == "open"
    assert router.health() is Health.DEGRADED
    a.calls.clear()
    msgs = [message() for _ in range(4)]
    assert submit(router, msgs) == [Submitted(f"b-{m.id}", "b") for m in msgs]
    assert a.calls == []  # skipped: no time lost on a carrier known to fail
    failing = False
    tick.now += 30
    outcomes = submit(router, [message() for _ in range(4)])
    # Half-open: exactly one trial message goes to "a"; the others go on to "b" meanwhile.
    assert Counter(o.connector for o in outcomes if isinstance(o, Submitted)) == {"a": 1, "b": 3}
    assert router.members["a"].breaker.state.value == "closed"
    assert router.health() is Health.UP


def test_a_member_that_is_down_is_skipped_and_none_left_is_a_wait_not_an_error() -> None:
    a = FakeConnector("a", health=Health.DOWN)
    b = FakeConnector("b")
    router = pair(a, b)
    m = message()
    assert submit(router, [m]) == [Submitted(f"b-{m.id}", "b")]
    assert a.calls == []
    b.state = Health.DOWN
    assert router.health() is Health.DOWN
    (outcome,) = submit(router, [message()])
    assert isinstance(outcome, Deferred)  # no attempt counted: waiting for a carrier is not failing
    assert 1.0 <= outcome.seconds <= 33.0
    assert "no connector can take the message now (a: down, b: down)" in outcome.reason
    assert router.capacity() == 0  # so the dispatcher claims nothing until one is back
    a.state = Health.UP  # the SMPP session re-bound: usable again without waiting out the cooldown
    m2 = message()
    assert submit(router, [m2]) == [Submitted(f"a-{m2.id}", "a")]


def test_a_member_that_raises_fails_its_batch_without_failover() -> None:
    class Broken(FakeConnector):
        async def submit_many(self, messages: list[OutboundMessage]) -> list[SubmitOutcome]:
            self.calls.append([m.id for m in messages])
            raise RuntimeError("bug")

    a, b = Broken("a"), FakeConnector("b")
    outcomes = submit(pair(a, b), [message(), message()])
    assert all(isinstance(o, CarrierError) and o.kind is ErrorKind.PLATFORM_ERROR for o in outcomes)
    assert b.calls == []


def test_start_stop_and_views() -> None:
    a, b = FakeConnector("a"), FakeConnector("b")
    router = pair(a, b)
    sink = object()
    asyncio.run(router.start(sink))  # type: ignore[arg-type]
    assert a.started_with is sink and b.started_with is sink
    asyncio.run(router.stop())
    assert a.stopped and b.stopped
    view = router.view()
    assert view["routes"] == [{"name": "r", "rules": {}, "strategy": "failover", "connectors": ["a", "b"]}]
    assert view["connectors"][0] == {
        "name": "a",
        "type": "fake",
        "health": "up",
        "breaker": {"state": "closed", "failures": 0},
    }


def test_the_failover_policy_reads_the_error_not_its_text() -> None:
    unaccepted = FailoverPolicy.unaccepted
    provider = ErrorKind.PROVIDER_ERROR
    assert unaccepted(throttled())
    assert unaccepted(refused_connection())
    assert not unaccepted(timed_out_after_sending())
    assert unaccepted(CarrierError("x", kind=provider, retryable=True, sent=False))
    assert not unaccepted(CarrierError("x", kind=ErrorKind.THROTTLED, retryable=True, sent=True))
    assert unaccepted(CarrierError("smsc said no", kind=provider, retryable=True, command_status=0x08))
    assert unaccepted(CarrierError("503", kind=provider, retryable=True, status=503))
    assert not unaccepted(CarrierError("502", kind=provider, retryable=True, status=502))
    assert not unaccepted(
        CarrierError("connection refused", kind=provider, retryable=True)
    )  # text is not read


def test_members_down_with_no_traffic_still_get_their_trial_once_cooled() -> None:
    """An upstream that learns only from traffic reports DOWN; with nothing claimed meanwhile (capacity 0)
    its breaker must still cool down and let the dispatcher claim a trial, or nothing would ever move."""
    tick = Tick()
    a = FakeConnector("a")
    b = FakeConnector("b")
    router = pair(a, b, tick=tick)
    assert router.capacity() is None
    a.state = b.state = Health.DOWN
    assert router.capacity() == 0
    tick.now += 31
    assert router.capacity() == 1  # a trial may go: one message is claimed for it
    assert router.capacity() == 0  # (and not a second one meanwhile)
    a.state = Health.UP
    m = message()
    assert submit(router, [m]) == [Submitted(f"a-{m.id}", "a")]


def test_the_rest_of_a_long_message_goes_to_the_member_that_took_its_first_parts() -> None:
    a = FakeConnector("a")
    b = FakeConnector("b")
    router = Router([member(a), member(b)], [RouteSpec("r", ("a", "b"), Strategy.ROUND_ROBIN)])
    import dataclasses

    msgs = [dataclasses.replace(message(), parts_done={1: "x"}, pinned="b") for _ in range(4)]
    assert [o.connector for o in submit(router, msgs)] == ["b"] * 4  # type: ignore[union-attr]
    assert a.calls == []


def test_a_member_that_defers_passes_the_message_on() -> None:
    a = FakeConnector("a", lambda m: Deferred(1.0, "no SMPP session is bound"))
    b = FakeConnector("b")
    m = message()
    assert submit(pair(a, b), [m]) == [Submitted(f"b-{m.id}", "b")]
    assert a.submitted == [m.id]
