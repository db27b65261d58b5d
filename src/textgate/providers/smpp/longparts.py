"""The long messages an SMPP connector submitted, by part id, so their parts' receipts roll up into one.

Kept in memory and, with a sink that keeps connector memory (the gateway's), in the database as well: a
long message's parts and the outcomes of their receipts are stored as they become known,
``long:<first part id>`` holding the record and ``part:<part id>`` pointing at it. A receipt for an id
the process did not submit looks itself up there (:meth:`LongMessages.restore`), so the parts of a
message sent before a restart still roll up. The stored record is forgotten once the rolled-up receipt
is applied, and expires after ``receipt_memory`` otherwise.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

from textgate.providers.base import ConnectorMemory, Receipt
from textgate.providers.smpp.tracking import LongMessage

log = logging.getLogger(__name__)


class LongMessages:
    def __init__(self, connector: str, ttl: float) -> None:
        self.connector = connector
        self.ttl = ttl  # seconds a stored record lives (receipt_memory)
        self.memory: ConnectorMemory | None = None
        self._records: list[LongMessage] = []
        self._by_part: dict[str, tuple[LongMessage, int]] = {}

    # -- in memory ---------------------------------------------------------------------------------
    def __contains__(self, part_id: str) -> bool:
        return part_id in self._by_part

    def __iter__(self) -> Iterator[LongMessage]:
        return iter(list(self._records))

    def find(self, part_id: str) -> tuple[LongMessage, int] | None:
        """The record a part id belongs to, and the part's index in it."""
        return self._by_part.get(part_id)

    def part_accepted(self, record: LongMessage, index: int, part_id: str) -> None:
        record.part_ids[index] = part_id
        self._by_part[part_id] = (record, index)

    def add(self, record: LongMessage) -> None:
        self._records.append(record)
        for index, part_id in enumerate(record.part_ids):
            if part_id is not None:
                self._by_part[part_id] = (record, index)

    def drop(self, record: LongMessage) -> None:
        if record in self._records:
            self._records.remove(record)
        for part_id in record.part_ids:
            if part_id is not None and self._by_part.get(part_id, (None,))[0] is record:
                del self._by_part[part_id]

    # -- stored ------------------------------------------------------------------------------------
    async def save(self, record: LongMessage, *, with_parts: bool = False) -> None:
        """Store the record (and, the first time, a pointer per part). A failure is logged: the roll-up
        still works in memory, only a restart would lose it."""
        if self.memory is None or record.first_id is None:
            return
        values = {f"long:{record.first_id}": record.to_json()}
        if with_parts:
            for index, part_id in enumerate(record.part_ids):
                if part_id is not None:
                    values[f"part:{part_id}"] = {"first": record.first_id, "index": index}
        try:
            await self.memory.remember(self.connector, values, self.ttl)
        except Exception:
            log.exception("SMPP %s: storing the parts of %s failed", self.connector, record.message_id)

    async def restore(self, candidates: list[str]) -> tuple[LongMessage, int] | None:
        """The stored record one of these ids (the forms a receipt's id may take) is a part of, now back
        in memory, and the part's index; None if none is stored."""
        if self.memory is None:
            return None
        try:
            parts = await self.memory.recall(self.connector, [f"part:{c}" for c in candidates])
            pointer = next((parts[f"part:{c}"] for c in candidates if f"part:{c}" in parts), None)
            if pointer is None:
                return None
            key = f"long:{pointer['first']}"
            stored = (await self.memory.recall(self.connector, [key])).get(key)
        except Exception:
            log.exception("SMPP %s: looking up the parts of a long message failed", self.connector)
            return None
        if stored is None:
            return None
        existing = self.find(str(pointer["first"]))
        if existing is not None:  # restored meanwhile by another receipt
            record = existing[0]
        else:
            record = LongMessage.from_json(stored)
            self.add(record)
            log.info("SMPP %s: restored the parts of long message %s", self.connector, record.message_id)
        return record, int(pointer["index"])

    async def forget(self, rollup: Receipt) -> None:
        """The rolled-up receipt was applied: the stored record and its pointers go (else they expire)."""
        if self.memory is None:
            return
        part_ids = [p for p in rollup.raw.get("part_ids", []) if p]
        try:
            keys = [f"long:{rollup.carrier_id}", *(f"part:{p}" for p in part_ids)]
            await self.memory.forget(self.connector, keys)
        except Exception:
            log.exception("SMPP %s: forgetting the parts of %s failed", self.connector, rollup.carrier_id)
