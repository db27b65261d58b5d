"""Credits a message costs. Pure arithmetic; the ledger lives in the store."""

from __future__ import annotations

from dataclasses import dataclass

from textgate.domain.message import MessageType


@dataclass(frozen=True, slots=True)
class PriceList:
    """Per-account prices. Defaults: 1 credit per SMS part, 3 credits per MMS."""

    sms_part: int = 1
    mms: int = 3

    def __post_init__(self) -> None:
        if self.sms_part < 0 or self.mms < 0:
            raise ValueError("prices cannot be negative")

    def price(self, message_type: MessageType, segments: int) -> int:
        if message_type is MessageType.MMS:
            return self.mms
        return self.sms_part * max(1, segments)
