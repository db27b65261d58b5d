from __future__ import annotations

import itertools

import pytest

from textgate.domain.message import (
    FINAL_STATUSES,
    TRANSITIONS,
    IllegalTransition,
    MessageStatus,
    check_transition,
)

S = MessageStatus


@pytest.mark.parametrize(
    ("current", "new"),
    [
        (S.QUEUED, S.SENDING),
        (S.SENDING, S.SENT),
        (S.SENT, S.DELIVERED),
        (S.SENT, S.UNDELIVERED),
        (S.SENDING, S.QUEUED),  # retry after a throttle
        (S.SCHEDULED, S.QUEUED),
        (S.QUEUED, S.EXPIRED),
        (S.SENDING, S.REJECTED),
        (S.SENDING, S.DELIVERED),  # receipt overtook the submit answer
    ],
)
def test_legal_moves_apply(current: MessageStatus, new: MessageStatus) -> None:
    assert check_transition(current, new) is True


@pytest.mark.parametrize(
    ("current", "new"),
    [(S.QUEUED, S.DELIVERED), (S.SCHEDULED, S.SENT), (S.SENT, S.QUEUED), (S.QUEUED, S.RECEIVED)],
)
def test_illegal_moves_are_refused(current: MessageStatus, new: MessageStatus) -> None:
    with pytest.raises(IllegalTransition, match=f"from {current.value} to {new.value}"):
        check_transition(current, new)


@pytest.mark.parametrize(("final", "new"), list(itertools.product(sorted(FINAL_STATUSES), list(S))))
def test_final_statuses_never_move(final: MessageStatus, new: MessageStatus) -> None:
    # A late or repeated report is a no-op, never an error and never a move backwards.
    assert check_transition(final, new) is False


def test_repeat_is_a_noop() -> None:
    for status in S:
        assert check_transition(status, status) is False


def test_every_non_final_status_can_end() -> None:
    for status, targets in TRANSITIONS.items():
        assert not status.is_final
        assert targets & FINAL_STATUSES, f"{status} has no way to a final status"
