"""aiosmpplib's PDU classes without their per-field type checks, for the PDUs of every message.

aiosmpplib checks every field of every PDU object it builds (``check_param``: a type test and a length
test per field), about 60 calls for one message's ``submit_sm``, its ``deliver_sm`` receipt and their
addresses: a sixth of the SMPP event loop's CPU in the end-to-end benchmark. Here they are skipped where
the values cannot be wrong:

* :class:`Address` and :class:`TrustedSubmitSm` are built by the connector from values it has already
  validated (E.164 numbers or alphanumeric senders of at most 11 characters; integer flags from the
  configuration; encoded text from textgate's own splitter);
* :class:`LenientDeliverSm` is parsed from the wire by aiosmpplib's ``from_pdu``, which gives every field
  its type by construction. It also accepts a deliver_sm with neither ``short_message`` nor
  ``message_payload`` (receipts that carry only TLVs; SMPP allows them, aiosmpplib refuses them).

The state the checked ``__post_init__`` sets besides its checks is set here the same way. aiosmpplib is
pinned (pyproject.toml), since this follows its 0.7.4 internals.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aiosmpplib import DeliverSm, PhoneNumber, SubmitSm  # type: ignore[import-untyped]
from aiosmpplib.protocol import DEFAULT_ENCODING  # type: ignore[import-untyped]


@dataclass
class Address(PhoneNumber):  # type: ignore[misc]
    """A PhoneNumber (number, TON, NPI) whose values the connector chose."""

    def __post_init__(self) -> None:
        pass


@dataclass
class TrustedSubmitSm(SubmitSm):  # type: ignore[misc]
    """A submit_sm whose fields the connector set from validated values."""

    def __post_init__(self) -> None:
        _unchecked_state(self)


@dataclass
class LenientDeliverSm(DeliverSm):  # type: ignore[misc]
    """A deliver_sm as read from the wire; may carry no text at all."""

    def __post_init__(self) -> None:
        _unchecked_state(self)
        self._parsed_receipt = None


def _unchecked_state(pdu: Any) -> None:
    """What SubmitSm.__post_init__ sets besides checking its fields."""
    if pdu.optional_params is None:
        pdu.optional_params = []
    pdu._default_encoding = DEFAULT_ENCODING
    pdu._custom_codecs = None
    pdu._encoded_message = b""
