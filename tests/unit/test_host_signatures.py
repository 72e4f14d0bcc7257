"""The host's e-signature decisions and the e-receipt query under hostile
input: whatever F55 and F62 hold, a packet is answered with one of the
upload's codes (never a host error, 96) and a refused one leaves the
ledger as it was; whatever the query string, it is a BadRequest or three
checked values."""

import datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from firmware import iso8583
from emulator.host import signatures, web
from emulator.host.handlers import Acquirer, Decline, Reply
from emulator.host.ledger import Ledger
from emulator.host.server import DEFAULT_MASTER_KEY

SETTINGS = settings(max_examples=200, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
NOW = datetime.datetime(2026, 12, 1, 9, 30, 15)


def books():
    """A ledger with one terminal and one approved sale (trace 7, RRN 093015000001)."""
    ledger = Ledger(":memory:")
    with ledger.transaction():
        ledger.sign_on("10000001", "898100012340001", bytes(16), bytes(16), NOW.isoformat())
        ledger.add_transaction(tid="10000001", mid="898100012340001", batch=1, trace=7, mti="0200",
                               proc_code="000000", kind="sale", amount=12345, pan="6222021000000000017",
                               rrn="093015000001", auth_code="007919", host_date="1201", host_time="093015",
                               status="approved", response_code="00")
    return ledger


def upload(f62, f55):
    fields = {4: "000000012345", 11: "000007", 15: "1201", 37: "093015000001", 41: "10000001",
              42: "898100012340001", 60: iso8583.field60("07", 1, "800"), 62: f62}
    if f55 is not None:
        fields[55] = f55
    return fields


@pytest.fixture(scope="module")
def ledger():
    """One ledger for all the examples: later ones meet what earlier ones stored (repeats, conflicts)."""
    books_ = books()
    yield books_
    books_.close()


@SETTINGS
@given(f62=st.binary(max_size=40), f55=st.one_of(st.none(), st.binary(max_size=60)))
def test_any_packet_gets_an_upload_code_and_a_refused_one_stores_nothing(ledger, f62, f55):
    terminal = ledger.terminal("10000001")
    before = (ledger.signatures(), [ledger.signature_packets(s["id"]) for s in ledger.signatures()])
    try:
        with ledger.transaction():
            code = signatures.store_packet(ledger, upload(f62, f55), terminal)
    except signatures.UploadRefused as refused:
        assert refused.code in ("25", "30", "94")
        assert before == (ledger.signatures(), [ledger.signature_packets(s["id"]) for s in ledger.signatures()])
    else:
        assert code == "00"


def test_hostile_packets_through_the_acquirers_handler_get_upload_codes():
    """A host error would be 96; these must be decided, not crash."""
    acquirer = Acquirer(books(), DEFAULT_MASTER_KEY)
    terminal = acquirer.ledger.terminal("10000001")
    for f62, f55 in ((b"", None), (b"\x01", None), (b"\x05\x02", b""), (b"\x01\x01SG1\xff", b"\xff\x70"),
                     (b"\x01\x01", b"\xff\x30\x01S"), (b"\x02\x02" + b"\x00" * 9, None)):
        try:
            with acquirer.ledger.transaction():
                # the handler a checked MAC leads to
                code = acquirer._signature_upload(Reply("0830", {}), upload(f62, f55), terminal,
                                                  NOW).response_code
        except Decline as e:
            code = e.code
        assert code in ("00", "25", "30", "94"), (f62, f55, code)


@settings(max_examples=300, deadline=None, database=None)
@given(st.text(max_size=80))
def test_any_query_is_a_bad_request_or_three_checked_values(query):
    try:
        terminal, rrn, code = web.parse_query(query)
    except web.BadRequest:
        return
    assert len(terminal) == 8 and terminal.isascii() and terminal.isalnum()
    assert len(rrn) == 12 and rrn.isdigit() and len(code) == 12 and code.isdigit()


@settings(max_examples=100, deadline=None, database=None)
@given(st.from_regex(r"\At=[0-9A-Z]{8}&r=[0-9]{12}&c=[0-9]{12}\Z"))
def test_well_formed_queries_parse(query):
    assert web.parse_query(query) == tuple(part[2:] for part in query.split("&"))
