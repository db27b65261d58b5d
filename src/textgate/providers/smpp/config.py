"""How one SMPP connector is set up: :class:`SmppConfig`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from textgate.providers.smpp.parts import LONG_MODES
from textgate.providers.smpp.receipts import ID_FORMATS

BindModeName = Literal["transceiver", "tx_rx"]


@dataclass(frozen=True, slots=True)
class SmppConfig:
    """One SMSC account.

    ``binds`` sessions are kept open; with ``bind_mode="tx_rx"`` each is a transmitter plus a receiver
    (2 x ``binds`` TCP connections). ``window`` caps the submit_sm PDUs awaiting their response per
    session; ``throughput`` caps submit_sm PDUs per second over the whole connector (0 = no cap).
    Addresses: ``+<digits>`` is international (``international_ton``/``npi``, sent without the ``+``),
    other all-digit addresses (short codes, national numbers) use ``national_ton``/``npi``, anything
    with a letter is alphanumeric (``alphanumeric_ton``/``npi``).
    """

    name: str
    host: str
    port: int
    system_id: str
    password: str
    system_type: str = ""
    bind_mode: BindModeName = "transceiver"
    binds: int = 1
    enquire_link: float = 30.0
    reconnect_initial: float = 1.0
    reconnect_max: float = 60.0
    window: int = 10
    throughput: float = 0.0
    long_messages: str = "udh"
    international_ton: int = 1
    international_npi: int = 1
    national_ton: int = 0
    national_npi: int = 1
    alphanumeric_ton: int = 5
    alphanumeric_npi: int = 0
    id_format: str = "hex"
    registered_delivery: int = 1
    # Not SMPP settings: how long to wait, and for how long to keep things.
    submit_timeout: float = 30.0
    """Seconds a submit may take in all: waiting for window room, sending, and the submit_sm_resp."""
    socket_timeout: float = 10.0
    """Seconds for connecting, binding and an enquire_link answer before the session is dropped."""
    throttle_pause: float = 1.0
    """Seconds a session holds back after the SMSC answered ESME_RTHROTTLED or ESME_RMSGQFUL."""
    receipt_retry_for: float = 120.0
    """Seconds a receipt whose message is not known yet (it overtook the submit) is kept and retried."""
    receipt_retry_interval: float = 0.5
    receipt_hold: float = 10.0
    """Seconds the answer to such a receipt's deliver_sm is held back while it waits for its message (when
    this process submitted that id): kept unanswered, the SMSC still has it, so a restart in that window
    loses nothing (the SMSC sends it again). After that it is answered and the receipt is kept in memory
    only. 0: answer at once."""
    part_receipt_wait: float = 3600.0
    """Seconds to wait for the other parts' receipts once one part of a long message failed."""
    receipt_memory: float = 3 * 86400.0
    """Seconds the parts of a long message are remembered for rolling their receipts up."""
    mo_part_wait: float = 300.0
    """Seconds to wait for the missing parts of a long inbound message; then it is reported as it is."""

    def __post_init__(self) -> None:
        problems: list[str] = []
        if self.bind_mode not in ("transceiver", "tx_rx"):
            problems.append("bind_mode must be 'transceiver' or 'tx_rx'")
        if self.long_messages not in LONG_MODES:
            problems.append(f"long_messages must be one of {', '.join(LONG_MODES)}")
        if self.id_format not in ID_FORMATS:
            problems.append(f"id_format must be one of {', '.join(ID_FORMATS)}")
        if not 0 < self.port < 65536:
            problems.append("port must be 1..65535")
        if not self.system_id or len(self.system_id) > 15:
            problems.append("system_id must be 1..15 characters")
        if len(self.password) > 8:
            problems.append("password may have at most 8 characters (SMPP 3.4)")
        if len(self.system_type) > 12:
            problems.append("system_type may have at most 12 characters")
        if self.binds < 1:
            problems.append("binds must be at least 1")
        if self.window < 1:
            problems.append("window must be at least 1")
        if self.throughput < 0:
            problems.append("throughput must be 0 (no cap) or more")
        if not 0 < self.reconnect_initial <= self.reconnect_max:
            problems.append("reconnect backoff needs 0 < reconnect_initial <= reconnect_max")
        if self.enquire_link <= 0 or self.submit_timeout <= 0 or self.socket_timeout <= 0:
            problems.append("enquire_link, submit_timeout and socket_timeout must be positive")
        if self.registered_delivery not in range(256):
            problems.append("registered_delivery must be 0..255")
        if problems:
            raise ValueError(f"SMPP connector {self.name!r}: " + "; ".join(problems))
