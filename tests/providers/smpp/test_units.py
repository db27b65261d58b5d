"""Pure parts of the SMPP connector: receipt text, id normalisation, status tables, parts, addresses."""

from __future__ import annotations

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from tests.providers.smpp.support import config
from textgate.domain.encoding import Encoding, split
from textgate.domain.errors import ErrorKind
from textgate.domain.message import MessageStatus
from textgate.providers.smpp import SmppConnector
from textgate.providers.smpp.parts import plan_parts
from textgate.providers.smpp.receipts import (
    _receipt,
    canonical_id,
    error_text,
    parse_receipt_text,
    read_pairs,
    receipt_id_candidates,
    stat_outcome,
)
from textgate.providers.smpp.session import CODECS


def test_parse_the_appendix_b_receipt() -> None:
    r = parse_receipt_text(
        "id:0A1B2C3D sub:001 dlvrd:001 submit date:2403151430 done date:2403151431 stat:DELIVRD err:000 "
        "text:Hello: world id:x"
    )
    assert (r.id, r.sub, r.dlvrd, r.stat, r.err) == ("0A1B2C3D", "001", "001", "DELIVRD", "000")
    assert (r.submit_date, r.done_date) == ("2403151430", "2403151431")
    assert r.text == "Hello: world id:x"  # text runs to the end, colons and all


def test_parse_is_lenient() -> None:
    r = parse_receipt_text("ID:77 Sub:1 DLVRD:0 Submit Date:240315143059 stat:undeliv err:0A3 Text:")
    assert (r.id, r.stat, r.err, r.submit_date, r.text) == ("77", "UNDELIV", "0A3", "240315143059", "")
    assert parse_receipt_text("stat:DELIVRD").id is None
    assert parse_receipt_text("no pairs here") == parse_receipt_text("")


_VALUE = st.text(alphabet="0123456789abcdefABCDEF:_-x", max_size=12)


@settings(max_examples=300, deadline=None)
@example(values=["ab:c", "1", "1", "1", "1", "X", "0"], text=None, upper=False)  # a colon in a value
@example(values=["1", "1", "1", "1 2", "1", "X", "0"], text="a: b", upper=True)  # a space in a value
@given(
    values=st.lists(_VALUE, min_size=7, max_size=7),
    text=st.none() | st.text(max_size=30),
    upper=st.booleans(),
)
def test_the_appendix_b_fast_path_reads_as_the_general_one(
    values: list[str], text: str | None, upper: bool
) -> None:
    keys = ["id", "sub", "dlvrd", "submit date", "done date", "stat", "err"]
    receipt = " ".join(f"{k.upper() if upper else k}:{v}" for k, v in zip(keys, values, strict=True))
    if text is not None:
        receipt += " text:" + text
    assert parse_receipt_text(receipt) == _receipt(read_pairs(receipt))


def test_a_key_starts_where_a_word_starts() -> None:
    # "sub" inside "xsub:" is not a key; the value of err runs to the next key that is a whole word.
    r = parse_receipt_text("id:5 err:0 note:a xsub:9 stat:DELIVRD")
    assert (r.id, r.sub, r.stat) == ("5", None, "DELIVRD")
    assert r.fields["xsub"] == "9"


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [("0A1B2C3D", "a1b2c3d"), ("a1b2c3d", "a1b2c3d"), ("000000FF", "ff"), ("0", "0"), ("00123", "123")],
)
def test_canonical_ids(raw: str, canonical: str) -> None:
    assert canonical_id(raw) == canonical


def test_non_hex_ids_are_only_lower_cased() -> None:
    assert canonical_id(" MSG-42-XYZ ") == "msg-42-xyz"


def test_receipt_id_readings() -> None:
    assert receipt_id_candidates("00FF", "hex") == ["ff"]
    assert receipt_id_candidates("255", "dec") == ["ff"]
    assert receipt_id_candidates("0255", "dec") == ["ff"]
    assert receipt_id_candidates("255", "auto") == ["255", "ff"]
    assert receipt_id_candidates("0AF", "auto") == ["af"]  # has a letter: hexadecimal only
    assert receipt_id_candidates("", "auto") == []


@pytest.mark.parametrize(
    ("stat", "status", "kind"),
    [
        ("DELIVRD", MessageStatus.DELIVERED, None),
        ("UNDELIV", MessageStatus.UNDELIVERED, ErrorKind.UNKNOWN),
        ("EXPIRED", MessageStatus.EXPIRED, ErrorKind.EXPIRED),
        ("REJECTD", MessageStatus.FAILED, ErrorKind.PROVIDER_ERROR),
        ("ENROUTE", MessageStatus.SENT, None),
        ("whatever", MessageStatus.FAILED, ErrorKind.UNKNOWN),
        (None, MessageStatus.FAILED, ErrorKind.UNKNOWN),
    ],
)
def test_stat_outcomes(stat: str | None, status: MessageStatus, kind: ErrorKind | None) -> None:
    assert stat_outcome(stat) == (status, kind)


def test_error_text() -> None:
    assert error_text(MessageStatus.DELIVERED, "DELIVRD", "000") is None
    assert error_text(MessageStatus.UNDELIVERED, "UNDELIV", "001") == (
        "the carrier could not deliver the message (stat:UNDELIV err:001)"
    )


@pytest.mark.parametrize(
    ("status", "kind", "retryable"),
    [
        (0x58, ErrorKind.THROTTLED, True),  # ESME_RTHROTTLED
        (0x14, ErrorKind.THROTTLED, True),  # ESME_RMSGQFUL
        (0x08, ErrorKind.PROVIDER_ERROR, True),  # ESME_RSYSERR
        (0x0B, ErrorKind.INVALID_DESTINATION, False),  # ESME_RINVDSTADR
        (0x0A, ErrorKind.INVALID_SENDER, False),  # ESME_RINVSRCADR
        (0x400, ErrorKind.PROVIDER_ERROR, True),  # vendor-specific: unknown, retried
    ],
)
def test_status_table(status: int, kind: ErrorKind, retryable: bool) -> None:
    error = SmppConnector.classify(status)
    assert (error.kind, error.retryable) == (kind, retryable)
    assert error.context["command_status"] == status


def test_single_part() -> None:
    (part,) = plan_parts("Hello €", "udh", 7)
    assert part.encoding is Encoding.GSM7 and part.data_coding == 0
    assert part.short_message == b"Hello \x1b\x65"
    assert part.esm_class == 0 and part.sar is None


def test_udh_parts_never_split_an_escape() -> None:
    text = "x" * 152 + "€" + "y" * 10  # the euro sign would straddle the 153-septet boundary
    parts = plan_parts(text, "udh", 0x1FF)
    assert [p.text for p in parts] == split(text)
    assert parts[1].text.startswith("€")
    assert [p.short_message[:6] for p in parts if p.short_message] == [
        bytes([5, 0, 3, 0xFF, 2, 1]),
        bytes([5, 0, 3, 0xFF, 2, 2]),
    ]
    assert all(p.esm_class == 0x40 for p in parts)


def test_ucs2_parts_and_sar_and_payload() -> None:
    text = "🙂" * 40  # 80 UTF-16 units: two parts, surrogate pairs intact
    sar = plan_parts(text, "sar", 0x1234)
    assert [p.sar for p in sar] == [(0x1234, 2, 1), (0x1234, 2, 2)]
    assert all(p.data_coding == 8 and len(p.short_message or b"") % 4 == 0 for p in sar)
    (payload,) = plan_parts(text, "payload", 1)
    assert payload.payload_text == text and payload.short_message is None


def test_addresses() -> None:
    c = SmppConnector(config(_Unused(), national_ton=3, national_npi=0))
    for addr, expected in [
        ("+447700900001", ("447700900001", 1, 1)),
        ("TextGate", ("TextGate", 5, 0)),
        ("12345", ("12345", 3, 0)),
    ]:
        number = c.address(addr)
        assert (number.number, int(number.ton), int(number.npi)) == expected
    assert SmppConnector.number("447700900001", 1) == "+447700900001"
    assert SmppConnector.number("12345", 0) == "12345"
    assert SmppConnector.number("Bank", 5) == "Bank"


def test_codecs_are_lenient_on_the_way_in() -> None:
    assert CODECS["gsm0338"].decode(b"\x00\x1b\x65")[0] == "@€"
    assert CODECS["gsm0338"].decode("café".encode("latin-1"))[0] == "café"
    assert CODECS["ucs2"].decode(b"\x00A\x00")[0] == "A\ufffd"


class _Unused:
    smpp_port = 2775


def test_unchecked_pdus_encode_and_parse_as_aiosmpplibs_own() -> None:
    from aiosmpplib import DeliverSm, OptionalParam, PhoneNumber, SubmitSm
    from aiosmpplib.state import NPI, TON

    from textgate.providers.smpp.pdus import Address, LenientDeliverSm, TrustedSubmitSm

    def submit(cls: type, number: type) -> bytes:
        sm = cls(
            short_message="Hello",
            source=number("15551230001", TON.INTERNATIONAL, NPI.ISDN),
            destination=number("447400912345", TON.INTERNATIONAL, NPI.ISDN),
            esm_class=0x40,
            registered_delivery=1,
            encoding="ucs2",
            optional_params=[OptionalParam(0x0204, 7)],
            log_id="m/1/1",
        )
        sm.set_encoding_info("gsm0338", CODECS)
        sm.sequence_num = 42
        return bytes(sm.pdu())

    assert submit(TrustedSubmitSm, Address) == submit(SubmitSm, PhoneNumber)

    receipt = DeliverSm(
        short_message="id:7 stat:DELIVRD",
        source=PhoneNumber("447400912345", TON.INTERNATIONAL, NPI.ISDN),
        destination=PhoneNumber("15551230001", TON.INTERNATIONAL, NPI.ISDN),
        esm_class=4,
    )
    receipt.set_encoding_info("gsm0338", CODECS)
    receipt.sequence_num = 9
    raw = receipt.pdu()
    header = DeliverSm.parse_header(raw[:16])
    ours = LenientDeliverSm.from_pdu(raw, header, "gsm0338", CODECS)
    theirs = DeliverSm.from_pdu(raw, header, "gsm0338", CODECS)
    fields = ("short_message", "source", "destination", "esm_class", "sequence_num", "optional_params")
    assert [getattr(ours, f) for f in fields] == [getattr(theirs, f) for f in fields]
    assert ours.is_receipt() and ours.parse_receipt()["stat"] == "DELIVRD"
