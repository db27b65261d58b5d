"""SMPP 3.4: textgate as an ESME bound to a carrier's SMSC.

:class:`SmppConnector` (configured by :class:`SmppConfig`) keeps ``binds`` sessions open (transceiver, or
transmitter + receiver), submits with a per-session window and a connector-wide throughput cap, splits
long messages (UDH, SAR or message_payload), rolls up long messages' receipts, normalises receipt ids,
reassembles long inbound messages, and reconnects with backoff. See :mod:`.connector` for the behaviour
and :mod:`.receipts` for receipt parsing and ids.

Why aiosmpplib (0.7.4) for the protocol:

* **aiosmpplib** - asyncio-native (textgate is asyncio throughout), typed dataclass PDUs, maintained,
  no dependencies. It is built around pluggable parts (broker, correlator, hook, retry timer, rate
  limiter, throttle handler), so textgate replaces its demo in-memory queue/correlation with small
  adapters (:mod:`.session`) instead of forking it. Weak spots, handled here: receipt text is parsed
  strictly and a parse error would drop the session (guarded in ``session._Esme``); a 16-bit
  concatenation reference in inbound UDH is mis-read (corrected in the connector); no window or
  per-request timeout (done in :class:`.session.Link`); a command_status outside SMPP 3.4's list
  (vendor codes 0x400-0x4FF) fails header parsing and drops the session (not worked around: the
  submit then fails as retryable when the session drops).
* **python-smpplib** - mature and widely used, but synchronous and thread/socket-blocking: it would need
  a thread per session and hand-written bridging into asyncio, and it has no reconnect of its own.
* **smpp.pdu / smpp.twisted** - thorough PDU codecs, but Twisted-based and Python-2-era; mixing a
  Twisted reactor into an asyncio service costs more than it gives.
"""

from __future__ import annotations

from textgate.providers.smpp.config import SmppConfig
from textgate.providers.smpp.connector import SmppConnector

__all__ = ["SmppConfig", "SmppConnector"]
