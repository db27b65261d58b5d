"""``/metrics``: the process's Prometheus metrics, the whole gateway's when it runs API processes, and
what is waiting in the database.

* Counters and histograms are kept where things happen (``textgate_messages_accepted_total`` in
  service/send.py, per-connector answers in providers/metrics.py, latencies in service/status_metrics.py,
  webhook attempts in workers/webhooks.py, ...).
* With ``TEXTGATE_API_PROCESSES=N`` the API children and the parent that runs the workers each count in
  their own process; ``serve`` then runs prometheus_client's multiprocess mode (:func:`multiprocess_dir`):
  every process writes its values to files in one directory, and ``/metrics``, in whichever process
  answers it, adds them up, so a scrape sees the gateway's totals, not one child's.
* The queue gauges are counted in the database when ``/metrics`` is scraped (cached for
  :data:`QUEUE_CACHE_SECONDS`, so several scrapers cost one count), so they are the same from every
  process and every gateway node sharing the database:
  ``textgate_messages_queued{status}`` (messages not yet final: ``scheduled``, ``queued``, ``sending``,
  ``sent``, awaiting its receipt) and ``textgate_webhook_backlog`` (webhook deliveries still to make).
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from sqlalchemy import Engine, func, select

from textgate.domain.message import MessageStatus
from textgate.store.db import run_sync
from textgate.store.schema import messages, webhook_deliveries

#: prometheus_client's own variable: where the processes' metric files are, in multiprocess mode.
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
#: Set by ``serve`` beside :data:`MULTIPROC_ENV` when it made the directory (and so removes it).
OWNED_ENV = "TEXTGATE_METRICS_DIR_OWNED"
WAITING = (MessageStatus.SCHEDULED, MessageStatus.QUEUED, MessageStatus.SENDING, MessageStatus.SENT)
QUEUE_CACHE_SECONDS = 5.0


def multiprocess_dir() -> str | None:
    """The multiprocess directory when this process runs in that mode."""
    return os.environ.get(MULTIPROC_ENV) or None


def enter_multiprocess_mode(argv: list[str]) -> None:
    """Re-run this ``serve`` (same pid, same arguments) in multiprocess mode, with a fresh directory,
    unless it already is. prometheus_client picks its mode when it is imported, so the variable must be
    there when the process starts; the API children inherit it."""
    if multiprocess_dir():
        return
    path = tempfile.mkdtemp(prefix="textgate-metrics-")
    os.environ[MULTIPROC_ENV] = path
    os.environ[OWNED_ENV] = path
    os.execv(sys.executable, [sys.executable, "-m", "textgate", *argv])  # noqa: S606 - this same program


def remove_owned_dir() -> None:
    """Remove the multiprocess directory if this ``serve`` made it (at exit)."""
    path = os.environ.get(OWNED_ENV)
    if path and path == multiprocess_dir():
        shutil.rmtree(path, ignore_errors=True)


class _Fixed(Collector):
    def __init__(self, families: list[Any]) -> None:
        self.families = families

    def collect(self) -> Iterator[Any]:
        yield from self.families


class _Process(Collector):
    """This process's own registry (single-process mode)."""

    def collect(self) -> Iterator[Any]:
        yield from REGISTRY.collect()


class QueueCounts:
    """The database's waiting work, counted at most every :data:`QUEUE_CACHE_SECONDS`."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._at = -QUEUE_CACHE_SECONDS
        self._value: tuple[dict[str, int], int] = ({}, 0)

    def _count(self) -> tuple[dict[str, int], int]:
        with self.engine.connect() as conn:
            by_status: dict[str, int] = dict(
                conn.execute(
                    select(messages.c.status, func.count())
                    .where(messages.c.status.in_([s.value for s in WAITING]))
                    .group_by(messages.c.status)
                ).all()
            )
            backlog = conn.execute(
                select(func.count()).where(webhook_deliveries.c.status == "pending")
            ).scalar_one()
        return {s.value: int(by_status.get(s.value, 0)) for s in WAITING}, int(backlog)

    async def families(self) -> list[Any]:
        if time.monotonic() - self._at >= QUEUE_CACHE_SECONDS:
            self._value = await run_sync(self.engine, self._count)
            self._at = time.monotonic()
        by_status, backlog = self._value
        queued = GaugeMetricFamily(
            "textgate_messages_queued",
            "Messages not yet in a final status, by status (sent: awaiting the carrier's receipt)",
            labels=["status"],
        )
        for status, n in by_status.items():
            queued.add_metric([status], n)
        return [
            queued,
            GaugeMetricFamily(
                "textgate_webhook_backlog", "Webhook deliveries not yet made (due or retrying)", value=backlog
            ),
        ]


async def render(queue: QueueCounts) -> tuple[bytes, str]:
    """The ``/metrics`` body and its content type."""
    registry = CollectorRegistry(auto_describe=False)
    if multiprocess_dir():
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    else:
        registry.register(_Process())
    registry.register(_Fixed(await queue.families()))
    return generate_latest(registry), CONTENT_TYPE_LATEST
