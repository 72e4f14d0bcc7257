"""The acquirer host simulator over real TCP on loopback: sign-on, sale,
void, refund, reversal, settlement, batch upload, and the record file."""

import pytest

from firmware import iso8583
from hal import crypto
from hal.sim.deck import find_card
from emulator.host.record import read_record
from emulator.host.server import HostSimulator
from tests.unit.test_host_terminal import HEADER, TPDU, Terminal

DEBIT = find_card("debit-mag")
PIN_CARD = find_card("debit-pin")


@pytest.fixture
def host(tmp_path):
    simulator = HostSimulator(str(tmp_path / "host.sqlite"),
                              record_path=str(tmp_path / "frames.log"),
                              unknown_tids=("99999999",))
    simulator.start_in_thread()
    yield simulator
    simulator.close()


@pytest.fixture
def term(host):
    t = Terminal(host.port)
    mti, reply = t.sign_on()
    assert (mti, reply[39]) == ("0810", "00")
    return t


def approved(result):
    mti, reply = result
    assert reply[39] == "00", reply
    return reply


# -- sign-on, echo ------------------------------------------------------------------

def test_sign_on_sends_working_keys_under_the_master_key(host):
    t = Terminal(host.port)
    mti, reply = t.sign_on()
    assert mti == "0810"
    assert reply[39] == "00"
    assert len(reply[62]) == 40
    # The 0810 is signed with the new MAC key it carries.
    assert t.mac_ok(mti, reply)
    assert reply[41] == t.tid and reply[42] == t.mid and reply[11] == "000001"
    assert iso8583.parse_field60(reply[60])["batch"] == "000001"
    assert len(reply[12]) == 6 and len(reply[13]) == 4
    # The keys the terminal unwrapped (their KCVs checked in unwrap) are the
    # ones the host keeps for this terminal.
    row = host.terminal(t.tid)
    assert (row["pin_key"], row["mac_key"]) == (t.pin_key, t.mac_key)
    assert len(t.mac_key) == 16 and t.mac_key[8:] != bytes(8)
    # A second sign-on issues new keys.
    old = t.mac_key
    t.sign_on()
    assert t.mac_key != old


def test_sign_on_with_single_length_mac_key(tmp_path):
    with HostSimulator(None, mac_key_length=8) as host:
        t = Terminal(host.port)
        mti, reply = t.sign_on()
        assert reply[62][28:36] == bytes(8)  # 8 encrypted key bytes + 8 zeros
        assert t.mac_key[8:] == bytes(8)
        assert reply[62][36:40] == crypto.des_encrypt(t.mac_key[:8], bytes(8))[:4]
        assert approved(t.sale(DEBIT, 100))[39] == "00"


def test_sign_on_004_adds_a_track_key(host):
    t = Terminal(host.port)
    mti, reply = t.sign_on("004")
    assert len(reply[62]) == 60


def test_echo_test(term):
    mti, reply = term.exchange("0820", {**term.base(), 60: "00000001301"}, with_mac=False)
    assert (mti, reply[39], reply[60]) == ("0830", "00", "00000001301")


def test_unknown_terminal_is_refused(host):
    t = Terminal(host.port, tid="99999999")
    mti, reply = t.sign_on()
    assert (mti, reply[39]) == ("0810", "97")
    assert 62 not in reply


def test_financial_request_before_sign_on_asks_for_sign_on(host):
    t = Terminal(host.port, tid="10000009")
    t.mac_key = bytes(16)  # any key: the host has none for this terminal
    mti, reply = t.sale(DEBIT, 100)
    assert reply[39] == "A0"
    assert 64 not in reply
    assert host.balance(DEBIT.pan) == DEBIT.balance


# -- the terminal parameter download (0800, 60.3 = 360) -------------------------------

def parameters(term):
    return term.exchange("0800", {**term.base(), 60: iso8583.field60("00", term.batch, "360"), 63: "001"})


def test_parameter_download_gives_unionpays_defaults_macd(term):
    mti, reply = parameters(term)
    assert (mti, reply[39]) == ("0810", "00")
    assert reply[62] == b"Q1006100000Q2006100000E10010E20010"
    assert term.mac_ok(mti, reply)


def test_parameters_set_for_every_terminal_then_for_one(host, term):
    host.acquirer.set_params({"qps_no_pin_limit_fen": 30000})
    host.acquirer.set_params({"esign_void": True}, tid=term.tid)
    assert parameters(term)[1][62] == b"Q100530000Q2006100000E10011E20010"
    other = Terminal(host.port, tid="10000002")
    other.sign_on()
    assert parameters(other)[1][62] == b"Q100530000Q2006100000E10010E20010"


def test_parameter_download_needs_a_valid_mac(term):
    term.mac_key = bytes(16)
    mti, reply = parameters(term)
    assert reply[39] == "A0" and 62 not in reply


def test_the_host_refuses_to_hold_a_parameter_it_cannot_send(host):
    for values in ({"lang": "en"}, {"qps_no_pin_limit_fen": "30000"}, {"esign_void": "yes"}):
        with pytest.raises(ValueError):
            host.acquirer.set_params(values)
    assert host.acquirer.params == {}


# -- sale -------------------------------------------------------------------------

def test_sale_debits_and_answers_with_rrn_auth_and_mac(host, term):
    mti, reply = term.sale(DEBIT, 12345)
    assert mti == "0210"
    assert reply[39] == "00"
    for n in (2, 3, 4, 11, 25, 41, 42, 49, 60):
        assert reply[n] == term.last_request[1][n]
    assert len(reply[37]) == 12 and reply[37].isdigit()
    assert len(reply[38]) == 6
    assert reply[32] == "48020000"
    assert len(reply[44]) == 22
    assert term.mac_ok(mti, reply)
    assert host.balance(DEBIT.pan) == DEBIT.balance - 12345
    [txn] = host.transactions(term.tid)
    assert (txn["kind"], txn["status"], txn["amount"], txn["rrn"], txn["trace"]) == \
        ("sale", "approved", 12345, reply[37], int(reply[11]))
    assert txn["pan_masked"] == "622202*********0017"
    assert host.count_applied("sale") == 1


def test_sale_by_track2(host, term):
    approved(term.sale(DEBIT, 100, use_track=True))
    assert host.balance(DEBIT.pan) == DEBIT.balance - 100


def test_sale_with_pin(host, term):
    approved(term.sale(PIN_CARD, 500, pin="123456"))
    assert term.sale(PIN_CARD, 500, pin="654321")[1][39] == "55"
    assert term.sale(PIN_CARD, 500)[1][39] == "55"  # PIN required, none sent
    assert host.balance(PIN_CARD.pan) == PIN_CARD.balance - 500


@pytest.mark.parametrize("card, amount, code", [
    ("unknown", 100, "14"),
    ("expired", 100, "54"),
    ("low-funds", 1001, "51"),
    ("debit-mag", 0, "13"),
])
def test_sale_declines(host, term, card, amount, code):
    card = find_card(card)
    mti, reply = term.sale(card, amount)
    assert reply[39] == code
    assert 38 not in reply
    assert term.mac_ok(mti, reply)
    if card.on_host:
        assert host.balance(card.pan) == card.balance
    assert host.count_applied("sale") == 0


def test_expiry_from_the_track_or_the_account(host, term):
    expired = find_card("expired")
    assert term.sale(expired, 100, use_track=True)[1][39] == "54"
    fields = term.sale_fields(expired, 100)
    del fields[14]
    assert term.exchange("0200", fields)[1][39] == "54"


def test_low_funds_card_can_spend_exactly_its_balance(host, term):
    approved(term.sale(find_card("low-funds"), 1000))
    assert host.balance(find_card("low-funds").pan) == 0


def test_bad_mac_is_refused_with_a0_and_nothing_booked(host, term):
    fields = term.sale_fields(DEBIT, 100)
    fields[64] = b"00000000"
    mti, reply = term.exchange("0200", fields, with_mac=False)
    assert reply[39] == "A0"
    assert term.mac_ok(mti, reply)  # the reply itself is MACed with our key
    assert host.transactions() == []
    fields = term.sale_fields(DEBIT, 100)
    assert term.exchange("0200", fields, with_mac=False)[1][39] == "A0"  # no MAC at all


def test_resent_sale_gets_the_first_answer_and_is_booked_once(host, term):
    fields = term.sale_fields(DEBIT, 700)
    first = approved(term.exchange("0200", fields))
    again = approved(term.exchange("0200", fields))
    assert (again[37], again[38], again[12], again[13]) == (first[37], first[38], first[12], first[13])
    assert host.balance(DEBIT.pan) == DEBIT.balance - 700
    # The same trace for another amount is a reused trace: 94.
    other = term.sale_fields(DEBIT, 800, trace=fields[11])
    assert term.exchange("0200", other)[1][39] == "94"
    assert host.count_applied("sale") == 1


@pytest.mark.parametrize("change", ["card", "amount", "F60", "F61"])
def test_a_repeat_that_differs_in_any_identifying_field_is_94_without_approval_data(host, term, change):
    """Only a true repeat gets the first answer; the same trace with another
    card, amount, processing code, F60 or F61 is a conflict: 94, and no
    RRN or auth code that could pass for an approval."""
    sale = approved(term.sale(DEBIT, 5000))
    fields = term.refund_fields(DEBIT, 3000, sale[37])
    first = approved(term.exchange("0220", fields))
    other = dict(fields)
    if change == "card":
        other[2] = PIN_CARD.pan
    elif change == "amount":
        other[4] = "%012d" % 2999
    elif change == "F60":
        other[60] = iso8583.field60("25", term.batch, "000", "6", "0")
    else:
        other[61] = "000000000000" + ("0101" if fields[61][12:] != "0101" else "0102")
    mti, reply = term.exchange("0220", other)
    assert reply[39] == "94"
    assert 37 not in reply and 38 not in reply
    assert host.refunded_total(sale[37]) == 3000
    assert host.count_applied("refund") == 1
    # the true repeat still gets the first answer
    again = approved(term.exchange("0220", fields))
    assert (again[39], again[37], again[38]) == (first[39], first[37], first[38])


def test_the_trace_of_a_sale_reused_by_a_void_is_94(host, term):
    """Another processing code under the same trace is another request."""
    fields = term.sale_fields(DEBIT, 700)
    approved(term.exchange("0200", fields))
    void = term.void_fields(DEBIT, 700, fields[11], trace=fields[11])
    mti, reply = term.exchange("0200", void)
    assert reply[39] == "94" and 37 not in reply and 38 not in reply
    assert host.transactions()[0]["status"] == "approved"
    assert host.balance(DEBIT.pan) == DEBIT.balance - 700


def test_several_requests_on_one_connection(host, term):
    with term.connect() as sock:
        for amount in (100, 200, 300):
            mti, reply = term.exchange("0200", term.sale_fields(DEBIT, amount), sock=sock)
            assert reply[39] == "00"
    assert host.balance(DEBIT.pan) == DEBIT.balance - 600


# -- void -------------------------------------------------------------------------

def test_void_credits_back_and_marks_the_original(host, term):
    sale = approved(term.sale(DEBIT, 2500))
    mti, reply = term.void(DEBIT, 2500, sale[11], orig_rrn=sale[37], orig_auth=sale[38])
    assert (mti, reply[39]) == ("0210", "00")
    assert reply[37] != sale[37]
    assert host.balance(DEBIT.pan) == DEBIT.balance
    sale_row, void_row = host.transactions(term.tid)
    assert sale_row["status"] == "voided"
    assert (void_row["kind"], void_row["orig_id"], void_row["orig_trace"]) == ("void", sale_row["id"], int(sale[11]))
    # Already voided.
    assert term.void(DEBIT, 2500, sale[11])[1][39] == "94"
    assert host.balance(DEBIT.pan) == DEBIT.balance


def test_void_refusals(host, term):
    sale = approved(term.sale(DEBIT, 2500))
    assert term.void(DEBIT, 2400, sale[11])[1][39] == "64"          # amount differs
    assert term.void(DEBIT, 2500, "000999")[1][39] == "25"          # no such trace
    assert term.void(DEBIT, 2500, sale[11], orig_batch=7)[1][39] == "25"  # other batch
    other = Terminal(host.port, tid="10000002")
    other.sign_on()
    assert other.void(DEBIT, 2500, sale[11])[1][39] == "25"         # other terminal's sale
    approved(term.refund(DEBIT, 100, sale[37]))
    assert term.void(DEBIT, 2500, sale[11])[1][39] == "12"          # already refunded
    assert host.count_applied("void") == 0


def test_void_of_a_settled_batch_is_refused(host, term):
    sale = approved(term.sale(DEBIT, 2500))
    approved(term.settle(2500, 1, 0, 0))
    assert term.void(DEBIT, 2500, sale[11], orig_batch=1)[1][39] == "12"


# -- refund ------------------------------------------------------------------------

def test_partial_refunds_up_to_the_original(host, term):
    sale = approved(term.sale(DEBIT, 10000))
    r1 = approved(term.refund(DEBIT, 4000, sale[37], sale[13]))
    assert r1[37] != sale[37] and len(r1[38]) == 6
    approved(term.refund(DEBIT, 6000, sale[37]))
    assert host.refunded_total(sale[37]) == 10000
    mti, reply = term.refund(DEBIT, 1, sale[37])
    assert (mti, reply[39]) == ("0230", "61")
    assert host.refunded_total(sale[37]) == 10000
    assert host.balance(DEBIT.pan) == DEBIT.balance
    assert host.count_applied("refund") == 2


def test_refund_over_the_original_is_refused(host, term):
    sale = approved(term.sale(DEBIT, 1000))
    assert term.refund(DEBIT, 1001, sale[37])[1][39] == "61"
    assert host.refunded_total(sale[37]) == 0


def test_resent_refund_is_paid_once_with_the_first_answer(host, term):
    sale = approved(term.sale(DEBIT, 5000))
    fields = term.refund_fields(DEBIT, 3000, sale[37])
    first = approved(term.exchange("0220", fields))
    for _ in range(3):
        again = approved(term.exchange("0220", fields))
        assert (again[37], again[38], again[39]) == (first[37], first[38], first[39])
    assert host.refunded_total(sale[37]) == 3000
    assert host.balance(DEBIT.pan) == DEBIT.balance - 2000
    assert host.count_applied("refund") == 1


def test_refund_refusals(host, term):
    sale = approved(term.sale(DEBIT, 5000))
    assert term.refund(DEBIT, 100, "000000000000")[1][39] == "25"       # unknown RRN
    wrong_day = "0101" if sale[13] != "0101" else "0102"
    assert term.refund(DEBIT, 100, sale[37], wrong_day)[1][39] == "25"  # other date
    assert term.refund(PIN_CARD, 100, sale[37])[1][39] == "25"          # other card
    assert term.refund(find_card("unknown"), 100, sale[37])[1][39] == "14"
    approved(term.void(DEBIT, 5000, sale[11]))
    assert term.refund(DEBIT, 100, sale[37])[1][39] == "12"             # voided
    assert host.count_applied("refund") == 0


def test_refund_of_a_sale_in_an_earlier_batch_and_from_another_terminal(host, term):
    sale = approved(term.sale(DEBIT, 5000))
    approved(term.settle(5000, 1, 0, 0))
    term.sign_on()
    assert term.batch == 2
    approved(term.refund(DEBIT, 1000, sale[37]))
    colleague = Terminal(host.port, tid="10000002", mid=term.mid)
    colleague.sign_on()
    approved(colleague.refund(DEBIT, 1000, sale[37]))
    stranger = Terminal(host.port, tid="10000003", mid="898100012349999")
    stranger.sign_on()
    assert stranger.refund(DEBIT, 1000, sale[37])[1][39] == "25"   # another merchant
    assert host.refunded_total(sale[37]) == 2000


# -- reversal -----------------------------------------------------------------------

def test_reversal_undoes_a_sale_once(host, term):
    fields = term.sale_fields(DEBIT, 4200)
    approved(term.exchange("0200", fields))
    mti, reply = term.reverse(fields)
    assert (mti, reply[39]) == ("0410", "00")
    assert term.mac_ok(mti, reply)
    assert host.balance(DEBIT.pan) == DEBIT.balance
    approved(term.reverse(fields))  # again: acknowledged, nothing changes
    assert host.balance(DEBIT.pan) == DEBIT.balance
    assert host.transactions()[0]["status"] == "reversed"
    assert host.count_applied("reversal") == 1
    effects = [r["effect"] for r in host.reversals()]
    assert effects == ["undone", "nothing to undo (reversed)"]
    # The reversed sale cannot be voided or refunded.
    assert term.void(DEBIT, 4200, fields[11])[1][39] == "25"


def test_reversal_of_an_unknown_original_is_acknowledged(host, term):
    fields = term.sale_fields(DEBIT, 4200)  # never sent
    mti, reply = term.reverse(fields)
    assert (mti, reply[39]) == ("0410", "00")
    assert host.reversals()[0]["effect"] == "original unknown"
    assert host.balance(DEBIT.pan) == DEBIT.balance


def test_reversal_of_a_declined_sale_changes_nothing(host, term):
    fields = term.sale_fields(find_card("low-funds"), 5000)
    assert term.exchange("0200", fields)[1][39] == "51"
    approved(term.reverse(fields))
    assert host.balance(find_card("low-funds").pan) == 1000
    assert host.count_applied("reversal") == 0


def test_reversal_of_a_void_restores_the_sale(host, term):
    sale = approved(term.sale(DEBIT, 3000))
    void = term.void_fields(DEBIT, 3000, sale[11])
    approved(term.exchange("0200", void))
    assert host.balance(DEBIT.pan) == DEBIT.balance
    approved(term.reverse(void))
    assert host.balance(DEBIT.pan) == DEBIT.balance - 3000
    sale_row, void_row = host.transactions()
    assert (sale_row["status"], void_row["status"]) == ("approved", "reversed")
    approved(term.reverse(void))
    assert host.balance(DEBIT.pan) == DEBIT.balance - 3000
    approved(term.void(DEBIT, 3000, sale[11]))  # and it can be voided again
    assert host.balance(DEBIT.pan) == DEBIT.balance


def test_reversal_of_a_refund_takes_it_back(host, term):
    sale = approved(term.sale(DEBIT, 3000))
    refund = term.refund_fields(DEBIT, 1000, sale[37])
    approved(term.exchange("0220", refund))
    approved(term.reverse(refund))
    assert host.refunded_total(sale[37]) == 0
    assert host.balance(DEBIT.pan) == DEBIT.balance - 3000


# -- settlement, batch upload -------------------------------------------------------

def test_balanced_settlement_advances_the_batch(host, term):
    s1 = approved(term.sale(DEBIT, 1000))
    approved(term.sale(DEBIT, 2000))
    voided = approved(term.sale(DEBIT, 400))
    approved(term.void(DEBIT, 400, voided[11]))
    approved(term.refund(DEBIT, 300, s1[37]))
    mti, reply = term.settle(3000, 2, 300, 1)
    assert (mti, reply[39]) == ("0510", "00")
    assert term.mac_ok(mti, reply)
    assert reply[48][30] == "1" and reply[48][61] == "1"
    assert reply[48][:30] == term.last_request[1][48][:30]
    assert host.settlements()[0]["result"] == "11"
    assert host.terminal(term.tid)["batch"] == 2
    term.sign_on()
    assert term.batch == 2
    assert all(t["settled"] for t in host.transactions())


def test_repeated_settlement_gives_the_same_verdict_and_closes_the_batch_once(host, term):
    approved(term.sale(DEBIT, 1000))
    first = approved(term.settle(1000, 1, 0, 0))
    again = approved(term.settle(1000, 1, 0, 0))
    assert first[48] == again[48] and first[48][30] == "1"
    assert host.terminal(term.tid)["batch"] == 2
    assert len(host.settlements(term.tid)) == 1      # settled once, answered twice


def test_unbalanced_settlement_then_batch_upload(host, term):
    approved(term.sale(DEBIT, 1000))
    mti, reply = term.settle(999, 1, 0, 0)
    assert reply[39] == "00"
    assert reply[48][30] == "2"
    for code in ("201", "202", "207"):
        fields = term.base("000000", 1000)
        fields[2] = DEBIT.pan
        fields[48] = "0001"
        fields[60] = iso8583.field60("00", 1, code)
        mti, reply = term.exchange("0320", fields)
        assert (mti, reply[39]) == ("0330", "00")
        assert term.mac_ok(mti, reply)
    uploads = host.batch_uploads(term.tid)
    assert [u["network_code"] for u in uploads] == ["201", "202", "207"]
    assert DEBIT.pan not in uploads[0]["summary"]
    assert host.terminal(term.tid)["batch"] == 2


def test_foreign_totals_must_be_zero(host, term):
    mti, reply = term.settle(0, 0, 0, 0, foreign="000000000100001000000000000000000"[:31])
    assert reply[48][30] == "1" and reply[48][61] == "2"


def test_settlement_without_totals_is_a_format_error(host, term):
    fields = term.base()
    fields[60] = iso8583.field60("00", term.batch, "201")
    assert term.exchange("0500", fields)[1][39] == "30"
    assert host.terminal(term.tid)["batch"] == 1


# -- odd messages ---------------------------------------------------------------------

def test_unknown_message_type_is_answered_12(host, term):
    mti, reply = term.exchange("0100", term.base("300000", 100))
    assert (mti, reply[39]) == ("0110", "12")
    mti, reply = term.exchange("0200", term.base("310000", 100))  # balance inquiry: not offered
    assert (mti, reply[39]) == ("0210", "12")


def test_undecodable_request_gets_the_connection_closed(host, term):
    with term.connect() as sock:
        sock.sendall(b"\x00\x05hello")
        assert sock.recv(10) == b""
    # The host is still fine.
    approved(term.sale(DEBIT, 100))


# -- record -------------------------------------------------------------------------

def test_record_file_holds_every_frame_and_decodes(host, term, tmp_path):
    sale = term.sale_fields(PIN_CARD, 100, pin="123456")
    approved(term.exchange("0200", sale))
    host.stop_thread()
    frames = read_record(tmp_path / "frames.log")
    assert [d for _, d, _ in frames] == ["in", "out", "in", "out"]
    decoded = []
    for stamp, direction, frame in frames:
        assert "T" in stamp
        assert (frame[0] << 8 | frame[1]) == len(frame) - 2
        tpdu, header, body = iso8583.unframe(frame[2:])
        assert header == HEADER
        assert tpdu == (TPDU if direction == "in" else iso8583.reply_tpdu(TPDU))
        decoded.append(iso8583.unpack(body))
    assert [m for m, _ in decoded] == ["0800", "0810", "0200", "0210"]
    assert decoded[2][1][52] == sale[52]  # the PIN block as sent, encrypted
    text = (tmp_path / "frames.log").read_text()
    assert "123456" not in text.replace(PIN_CARD.pan, "")  # no clear PIN anywhere


def test_recording_goes_on_after_the_host_is_stopped_and_started_again(host, term, tmp_path):
    approved(term.sale(DEBIT, 100))
    port = host.port
    host.stop_thread()
    host.start_in_thread("127.0.0.1", port)   # what the test protocol's host down/up does
    approved(term.sale(DEBIT, 200))
    host.stop_thread()
    frames = read_record(tmp_path / "frames.log")
    mtis = [iso8583.unpack(iso8583.unframe(frame[2:])[2])[0] for _, _, frame in frames]
    assert mtis == ["0800", "0810", "0200", "0210", "0200", "0210"]


# -- MAC algorithms ---------------------------------------------------------------------

@pytest.mark.parametrize("algorithm", ["ecb", "x99"])
def test_other_mac_algorithms(algorithm):
    with HostSimulator(None, mac_algorithm=algorithm) as host:
        t = Terminal(host.port, mac_algorithm=algorithm)
        t.sign_on()
        mti, reply = t.sale(DEBIT, 100)
        assert reply[39] == "00" and t.mac_ok(mti, reply)
        t.mac_algorithm = "x919"
        assert t.sale(DEBIT, 100)[1][39] == "A0"


def test_x919_is_the_default_mac():
    with HostSimulator(None) as host:
        assert host.mac_algorithm == "x919"


def test_async_start_and_stop():
    import asyncio

    async def run():
        host = HostSimulator(None)
        port = await host.start()
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        t = Terminal(port)
        writer.write(t.request_frame("0800", {**t.base(), 60: "00000001003"}, with_mac=False))
        head = await reader.readexactly(2)
        payload = await reader.readexactly(head[0] << 8 | head[1])
        writer.close()
        await host.stop()
        return iso8583.unpack(iso8583.unframe(payload)[2])

    mti, reply = asyncio.run(run())
    assert (mti, reply[39]) == ("0810", "00")


def test_port_in_use_is_reported(host):
    other = HostSimulator(None)
    with pytest.raises(OSError):
        other.start_in_thread(port=host.port)
    other.close()
