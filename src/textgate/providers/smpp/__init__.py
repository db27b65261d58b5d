"""SMPP 3.4: textgate as an ESME bound to a carrier's SMSC.

:class:`SmppConnector` (configured by :class:`SmppConfig`) keeps ``binds`` sessions open (transceiver, or
transmitter + receiver), submits from one queue over all of them with a per-session window, a per-session
pacer that follows the SMSC's throttles (:mod:`.pacing`) and a connector-wide throughput cap, splits long
messages (UDH, SAR or message_payload) into parts that are retried one by one, normalises receipt ids,
and stores receipts, inbound messages and their parts through a durable sink before answering them. See
:mod:`.connector` (submitting), :mod:`.session` (the protocol loop), :mod:`.delivering` (deliver_sm) and
:mod:`.receipts` (receipt parsing and ids).

Why aiosmpplib (0.7.4) for the PDUs, and textgate's own session:

* **aiosmpplib** - asyncio-native, typed dataclass PDUs, maintained, no dependencies. Its PDU classes
  encode and parse every PDU here (bind, submit_sm with UDH or SAR, deliver_sm, enquire_link, unbind,
  generic_nack). Its session (the ``ESME``: broker, correlator, sender task) is not used: it has no
  window, no per-PDU timeout counted from the write, no way to send a throttled PDU again at the front,
  no memory of sequence numbers whose answer comes late, and it drops the session on a command_status
  outside SMPP 3.4's list (vendor codes 0x400-0x4FF). :mod:`.session` is a small asyncio protocol around
  those PDUs that does all of that. Weak spots of the PDUs, handled here: receipt text is parsed by
  :mod:`.receipts` (aiosmpplib's is strict); a 16-bit concatenation reference in inbound UDH is mis-read
  (corrected in :mod:`.delivering`); a deliver_sm without text is accepted (:mod:`.pdus`).
* **python-smpplib** - mature and widely used, but synchronous and thread/socket-blocking: it would need
  a thread per session and hand-written bridging into asyncio, and it has no reconnect of its own.
* **smpp.pdu / smpp.twisted** - thorough PDU codecs, but Twisted-based and Python-2-era; mixing a
  Twisted reactor into an asyncio service costs more than it gives.
"""

from __future__ import annotations

from textgate.providers.smpp.config import SmppConfig
from textgate.providers.smpp.connector import SmppConnector

__all__ = ["SmppConfig", "SmppConnector"]
