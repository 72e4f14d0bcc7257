"""Sale end to end: firmware on simulated devices, host simulator on loopback."""

from firmware import iso8583
from hal.sim.deck import find_card
from tests.flows import cashier


def recorded_requests(host_record_path, mti, pin_block=iso8583.PIN_BLOCK_DES):
    """The host's --record file -> the decoded requests with that MTI
    (`pin_block`: F52's length, 16 with SM4 keys)."""
    found = []
    with open(host_record_path) as f:
        for line in f:
            _when, direction, hexdata = line.split()
            if direction != "in":
                continue
            frame = bytes.fromhex(hexdata)
            _tpdu, _header, body = iso8583.unframe(frame[2:])
            got_mti, fields = iso8583.unpack(body, pin_block)
            if got_mti == mti:
                found.append(fields)
    return found


def test_swiped_sale_is_approved_and_the_ledger_and_journal_agree(handset, host):
    card = find_card("debit-mag")
    before = host.balance(card.pan)
    cashier.sale(handset, 1234, "debit-mag")
    txn = cashier.last_txn(handset)
    assert txn["type"] == "sale" and txn["status"] == "approved" and txn["amount"] == 1234
    assert host.balance(card.pan) == before - 1234
    assert txn["card"] == "622202*********0017"
    # field by field, as DESIGN.md describes the 0200
    request = recorded_requests(host.record_path, "0200")[-1]
    assert request[3] == "000000"
    assert request[4] == "000000001234"
    assert request[11] == "%06d" % txn["trace"]
    assert request[22][:2] == "02"
    assert request[25] == "00"
    assert request[41] == handset.app.settings.terminal_id
    assert request[42] == handset.app.settings.merchant_id
    assert request[60][:2] == "22" and request[60][2:8] == "%06d" % txn["batch"]
    assert len(request[64]) == 8


def test_sale_with_pin_and_two_receipts(handset, host):
    cashier.sale(handset, 500, "debit-pin", pin="123456")
    slips = cashier.receipts_text(handset)
    assert len(slips) == 2
    merchant, cardholder = ("\n".join(s) for s in slips)
    assert "MERCHANT COPY" in merchant and "CARDHOLDER COPY" in cardholder
    assert "RMB 5.00" in merchant
    assert "6228480000000000026" not in merchant + cardholder


def test_chip_sale_inserted(handset, host):
    card = find_card("chip-pin")
    before = host.balance(card.pan)
    cashier.sale(handset, 2000, "chip-pin", action="insert", pin="888888")
    assert host.balance(card.pan) == before - 2000
    request = recorded_requests(host.record_path, "0200")[-1]
    assert request[22][:2] == "05"
    assert 55 in request and 23 in request
    merchant_copy = "\n".join(cashier.receipts_text(handset)[0])
    assert "AID:A000000333010101" in merchant_copy
    assert "TC:" in merchant_copy


def test_contactless_sale_tapped(handset, host):
    card = find_card("credit-chip")
    before = host.balance(card.pan)
    cashier.sale(handset, 1500, "credit-chip", action="tap")
    assert host.balance(card.pan) == before - 1500
    assert recorded_requests(host.record_path, "0200")[-1][22][:2] == "07"


def test_wrong_pin_is_declined_with_a_clear_message(handset, host):
    card = find_card("debit-pin")
    before = host.balance(card.pan)
    cashier.sale(handset, 500, "debit-pin", pin="000000", expect="Wrong PIN (55)")
    assert host.balance(card.pan) == before
    assert cashier.last_txn(handset)["status"] == "declined"


def test_insufficient_funds(handset, host):
    cashier.sale(handset, 5000, "low-funds", expect="Insufficient funds (51)")


def test_expired_card_never_reaches_the_host(handset, host):
    sent_before = len(recorded_requests(host.record_path, "0200"))
    cashier.sale(handset, 100, "expired", expect="Card expired")
    assert len(recorded_requests(host.record_path, "0200")) == sent_before
    assert handset.journal() == []


def test_bad_check_digit_is_refused_on_the_terminal(handset, host):
    cashier.sale(handset, 100, "bad-luhn", expect="Invalid card number")
    assert handset.journal() == []


def test_garbled_track_asks_to_swipe_again(handset, host):
    handset.wait_idle()
    handset.keys("100")
    handset.enter()
    handset.wait_text("Swipe, insert or tap card")
    handset.card("swipe", "garbled")
    handset.wait_text("Card read failed")
    handset.wait_text("Swipe, insert or tap card")
    handset.card("swipe", "debit-mag")
    handset.wait_text("Sale approved")


def test_host_down_says_so_and_journals_nothing_to_reverse(handset, host):
    host.stop_thread()
    cashier.sale(handset, 100, "debit-mag", expect="Host unreachable")
    assert handset.journal()[-1]["status"] == "not_sent"


def test_cancel_at_the_card_prompt_returns_to_idle(handset):
    handset.wait_idle()
    handset.keys("100")
    handset.enter()
    handset.wait_text("Swipe, insert or tap card")
    handset.key("CANCEL")
    handset.wait_text("Cancelled")
    handset.wait_idle()
    assert handset.journal() == []


def test_sale_in_chinese(make_handset, host):
    h = make_handset(lang="zh")
    h.wait_idle()
    h.keys("888")
    h.enter()
    h.wait_text("请刷卡/插卡/挥卡")
    h.card("swipe", "debit-mag")
    h.wait_text("消费成功")
    h.wait_idle()
    assert "POS终端" in h.screen()["title"]
