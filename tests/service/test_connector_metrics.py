"""Per-connector answer counts (providers/metrics.py): what each answer counts as."""

from __future__ import annotations

from prometheus_client import REGISTRY

from textgate.domain.errors import CarrierError, ErrorKind
from textgate.providers.base import Deferred, Unknown
from textgate.providers.metrics import count_answers


def _value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_each_answer_counts_once_by_outcome_and_errors_by_kind() -> None:
    before = {
        o: _value("textgate_connector_submits_total", connector="c-metrics", outcome=o)
        for o in ("accepted", "throttled", "deferred", "unknown", "error", "rejected")
    }
    count_answers(
        "c-metrics",
        [
            "carrier-id-1",
            "carrier-id-2",
            CarrierError("slow down", kind=ErrorKind.THROTTLED, retryable=True),
            CarrierError("no route", kind=ErrorKind.INVALID_DESTINATION),
            CarrierError("down", kind=ErrorKind.PLATFORM_ERROR, retryable=True),
            Deferred(1.0, "not bound"),
            Unknown(1.0, "no answer"),
        ],
    )
    after = {o: _value("textgate_connector_submits_total", connector="c-metrics", outcome=o) for o in before}
    assert {o: after[o] - before[o] for o in before} == {
        "accepted": 2, "throttled": 1, "deferred": 1, "unknown": 1, "error": 1, "rejected": 1,
    }  # fmt: skip
    assert _value("textgate_connector_errors_total", connector="c-metrics", kind="throttled") >= 1
    assert (
        _value(
            "textgate_connector_errors_total", connector="c-metrics", kind=ErrorKind.INVALID_DESTINATION.value
        )
        >= 1
    )
