"""How one SMPP connector is set up: :class:`SmppConfig`, and :func:`smpp_connector` reading it from TOML."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from textgate.providers.base import ROLLUPS
from textgate.providers.smpp.parts import LONG_MODES
from textgate.providers.smpp.receipts import ID_FORMATS

log = logging.getLogger(__name__)

BindModeName = Literal["transceiver", "tx_rx"]

#: Keys earlier versions read that have no effect any more (accepted so old files still load).
RETIRED_KEYS: Mapping[str, str] = {
    "throttle_pause": "throttles now slow the session down adaptively (see docs/routing.md)",
    "receipt_hold": "early receipts are stored in the database, so their deliver_sm is answered at once",
    "receipt_retry_interval": "early receipts are stored and applied when their message is recorded",
    "receipt_memory": "the parts of long messages are stored with their message",
    "receipt_retry_for": "early receipts are kept for early_receipt_ttl seconds (a gateway setting)",
}


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
    id_format: str = "auto"
    registered_delivery: int = 1
    # Not SMPP settings: how long to wait, and for how long to keep things.
    submit_timeout: float = 30.0
    """Seconds to wait for the submit_sm_resp of a PDU once it was written to the socket."""
    queue_timeout: float = 10.0
    """Seconds a submit may wait in textgate to be written (window full, paced after throttles); after
    that the message goes back to the queue unsent, without counting an attempt."""
    resubmit_after: float = 60.0
    """Seconds a message whose submit got no answer (timeout, dropped connection) waits for a late answer
    before it is submitted again."""
    bind_settle: float = 1.0
    """Seconds after the connector (re)binds before it takes new submits: receipts the SMSC kept for it
    arrive first, so a submit whose answer was lost is recognised by its receipt, not sent again."""
    min_rate: float = 1.0
    """Submits a second a throttled session never goes below."""
    socket_timeout: float = 10.0
    """Seconds for connecting, binding and an enquire_link answer before the session is dropped."""
    part_rollup: str = "all"
    """How the parts' receipts of a long message decide its status: all | first_failure | first_part."""
    part_receipt_wait: float = 3600.0
    """Seconds to wait for the other parts' receipts once one part of a long message failed."""
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
        if self.part_rollup not in ROLLUPS:
            problems.append(f"part_rollup must be one of {', '.join(ROLLUPS)}")
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
        if self.min_rate <= 0:
            problems.append("min_rate must be positive")
        if not 0 < self.reconnect_initial <= self.reconnect_max:
            problems.append("reconnect backoff needs 0 < reconnect_initial <= reconnect_max")
        timings = (self.enquire_link, self.submit_timeout, self.socket_timeout, self.queue_timeout)
        if min(timings) <= 0:
            problems.append("enquire_link, submit_timeout, queue_timeout and socket_timeout must be positive")
        if self.bind_settle < 0:
            problems.append("bind_settle must be 0 or more")
        if self.resubmit_after < 0:
            problems.append("resubmit_after must be 0 or more")
        if self.registered_delivery not in range(256):
            problems.append("registered_delivery must be 0..255")
        if problems:
            raise ValueError(f"SMPP connector {self.name!r}: " + "; ".join(problems))


#: How each SmppConfig field's annotation reads in a TOML table (a float setting also takes an integer).
_TOML_TYPES: Mapping[str, tuple[type, ...]] = {
    "str": (str,),
    "BindModeName": (str,),
    "int": (int,),
    "float": (int, float),
}


def config_from_table(table: Mapping[str, Any]) -> SmppConfig:
    """An ``[[connectors]]`` table of ``type = "smpp"``: ``name`` plus :class:`SmppConfig`'s fields by name
    (``host``, ``port``, ``system_id``, ``password`` are required). ValueError names a wrong key."""
    known = {f.name: f for f in dataclasses.fields(SmppConfig)}
    options = {k: v for k, v in table.items() if k != "type"}
    for key in sorted(set(options) & set(RETIRED_KEYS)):
        log.warning(
            "SMPP connector %s: %s is no longer used: %s", options.get("name"), key, RETIRED_KEYS[key]
        )
        del options[key]
    unknown = sorted(set(options) - set(known))
    if unknown:
        raise ValueError(f"unknown key {', '.join(unknown)} (SMPP keys: {', '.join(sorted(known))})")
    missing = [
        name
        for name, f in known.items()
        if f.default is dataclasses.MISSING
        and f.default_factory is dataclasses.MISSING
        and name not in options
    ]
    if missing:
        raise ValueError(f"missing key {', '.join(missing)}")
    for key, value in options.items():
        accepted = _TOML_TYPES.get(str(known[key].type), (object,))
        if isinstance(value, bool) or not isinstance(value, accepted):
            raise ValueError(f"{key} must be {' or '.join(t.__name__ for t in accepted)}, not {value!r}")
    return SmppConfig(**options)
