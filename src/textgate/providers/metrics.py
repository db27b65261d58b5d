"""Per-connector submission metrics, for every kind of connector (SMPP, upstream HTTP, the simulator).

They are counted where a carrier connector's answers are seen, once per answer: the router counts each
member's answers (so a message that one member throttled and the next one took counts at both), and the
dispatch worker counts those of a connector it uses without a router. Connectors do not count themselves.

* ``textgate_connector_submits_total{connector, outcome}``: one per message a connector answered, with
  ``outcome``: ``accepted`` (taken), ``partial`` (some parts of a long message taken), ``throttled`` (the
  carrier said "not now"), ``deferred`` (not tried now: not bound, window full), ``unknown`` (no answer:
  the carrier may have it), ``error`` (a retryable refusal or failure), ``rejected`` (a permanent one);
* ``textgate_connector_errors_total{connector, kind}``: the refusals (throttles included) by error kind.
"""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Sequence

from prometheus_client import Counter

from textgate.domain.errors import CarrierError, ErrorKind
from textgate.providers.base import Deferred, Partial, SubmitOutcome, Submitted, Unknown

CONNECTOR_SUBMITS = Counter(
    "textgate_connector_submits_total",
    "Messages submitted to each carrier connector, by the connector's answer",
    ["connector", "outcome"],
)
CONNECTOR_ERRORS = Counter(
    "textgate_connector_errors_total",
    "Refusals and failures answered by each carrier connector (throttles included), by error kind",
    ["connector", "kind"],
)


def outcome_label(answer: SubmitOutcome) -> str:
    if isinstance(answer, str | Submitted):
        return "accepted"
    if isinstance(answer, Partial):
        return "partial"
    if isinstance(answer, Deferred):
        return "deferred"
    if isinstance(answer, Unknown):
        return "unknown"
    if answer.kind is ErrorKind.THROTTLED:
        return "throttled"
    return "error" if answer.retryable else "rejected"


def count_answers(connector: str, answers: Sequence[SubmitOutcome]) -> None:
    """Count what ``connector`` answered for one batch."""
    outcomes = Tally(outcome_label(a) for a in answers)
    for outcome, n in outcomes.items():
        CONNECTOR_SUBMITS.labels(connector, outcome).inc(n)
    if len(outcomes) == 1 and "accepted" in outcomes:
        return
    kinds = Tally(a.kind.value for a in answers if isinstance(a, CarrierError))
    for kind, n in kinds.items():
        CONNECTOR_ERRORS.labels(connector, kind).inc(n)
