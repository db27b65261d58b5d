"""The part state machine's roll-up: how parts' receipts decide a multi-part message's status."""

from __future__ import annotations

import pytest

from textgate.domain.errors import ErrorKind
from textgate.domain.message import MessageStatus
from textgate.domain.parts import PART_SENT, PART_UNKNOWN, PartState, rollup

D = MessageStatus.DELIVERED.value
U = MessageStatus.UNDELIVERED.value
X = MessageStatus.EXPIRED.value


def parts(*statuses: str) -> list[PartState]:
    return [
        PartState(n, s, ErrorKind.UNKNOWN if s not in (D, PART_SENT, PART_UNKNOWN) else None, f"why {n}")
        for n, s in enumerate(statuses, start=1)
    ]


def test_delivered_only_when_every_part_was() -> None:
    assert rollup(parts(D, D, D), 3, "all") == rollup(parts(D, D, D), 3, "first_failure")
    assert rollup(parts(D, D, D), 3, "all").status is MessageStatus.DELIVERED  # type: ignore[union-attr]
    assert rollup(parts(D, D, PART_SENT), 3, "all") is None
    assert rollup(parts(D, D), 3, "all") is None  # a part not even sent yet


@pytest.mark.parametrize("rule", ["all", "first_failure"])
def test_the_first_failing_part_gives_the_status_and_reason(rule: str) -> None:
    decision = rollup(parts(D, X, U), 3, rule)
    assert decision is not None
    assert decision.status is MessageStatus.EXPIRED
    assert decision.error_message == "part 2: why 2"


def test_all_waits_for_every_part_unless_the_wait_is_over() -> None:
    assert rollup(parts(U, PART_SENT, D), 3, "all") is None
    late = rollup(parts(U, PART_SENT, D), 3, "all", timed_out=True)
    assert late is not None and late.status is MessageStatus.UNDELIVERED
    assert late.error_message == "part 1: why 1; 1 of 3 parts did not report"


def test_first_failure_decides_at_once() -> None:
    decision = rollup(parts(PART_SENT, U, PART_UNKNOWN), 3, "first_failure")
    assert decision is not None and decision.status is MessageStatus.UNDELIVERED


def test_first_part_decides_alone() -> None:
    assert rollup(parts(D, U, U), 3, "first_part").status is MessageStatus.DELIVERED  # type: ignore[union-attr]
    assert rollup(parts(PART_SENT, D, D), 3, "first_part") is None
    failed = rollup(parts(U, D, D), 3, "first_part")
    assert failed is not None and failed.status is MessageStatus.UNDELIVERED


def test_a_part_state_knows_whether_it_is_final() -> None:
    assert not PartState(1, PART_SENT).final and not PartState(1, PART_UNKNOWN).final
    assert PartState(1, D).final and not PartState(1, D).failed
    assert PartState(1, U).failed
