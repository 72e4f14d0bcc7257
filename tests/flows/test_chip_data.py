"""Chip data that matches the transaction: field 55's 9C (transaction
type) and 9F41 (sequence counter = the trace) for sale, void and refund,
and a chip whose directory cannot be read ends in a chip error with the
swipe fallback, never "Internal error"."""

from firmware import tlv
from tests.flows import cashier
from tests.flows.test_refund import mmdd
from tests.flows.test_sale import recorded_requests


def chip_tags(request):
    return dict(tlv.walk(request[55]))


def test_9c_and_9f41_follow_the_transaction(handset, host):
    h = handset
    cashier.unlock_supervisor(h)
    cashier.sale(h, 5000, "chip-pin", action="insert", pin="888888")
    sale = cashier.last_txn(h)
    tags = chip_tags(recorded_requests(host.record_path, "0200")[-1])
    assert tags[0x9C] == b"\x00"
    assert tags[0x9F41] == bytes.fromhex("%08d" % sale["trace"])

    cashier.refund(h, sale["rrn"], mmdd(h), 1000, card="chip-pin", action="insert", pin="888888")
    refund = cashier.last_txn(h)
    request = recorded_requests(host.record_path, "0220")[-1]
    tags = chip_tags(request)
    assert tags[0x9C] == b"\x20"
    assert tags[0x9F41] == bytes.fromhex("%08d" % refund["trace"])
    assert request[11] == "%06d" % refund["trace"]

    cashier.sale(h, 700, "chip-pin", action="insert", pin="888888")
    second = cashier.last_txn(h)
    cashier.void(h, second["trace"], card="chip-pin", action="insert", pin="888888")
    void = cashier.last_txn(h)
    tags = chip_tags(recorded_requests(host.record_path, "0200")[-1])
    assert tags[0x9C] == b"\x20"      # 9C = the first two digits of F3 (200000)
    assert tags[0x9F41] == bytes.fromhex("%08d" % void["trace"])


def test_a_chip_directory_sfi_of_0x81_is_a_chip_error_then_swipe_fallback(handset, host):
    h = handset
    h.wait_idle()
    h.keys("1500")
    h.enter()
    h.wait_text("Swipe, insert or tap card")
    h.call(h.app.devices.card_reader.insert, "chip-pin", "bad_sfi")
    h.wait_text("Chip error")
    h.card("remove")
    h.wait_text("Swipe, insert or tap card")
    h.card("swipe", "chip-pin")
    h.wait_text("enter PIN")
    h.keys("888888")
    h.enter()
    h.wait_text("Sale approved")
    h.wait_idle()
    assert "Internal error" not in "\n".join(h.app.log.lines)
    request = recorded_requests(host.record_path, "0200")[-1]
    assert request[22].startswith("80")       # fallback entry mode
    assert cashier.last_txn(h)["status"] == "approved"
