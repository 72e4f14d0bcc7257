"""The firmware boots on the Linux serial drivers against the peers on
ptys, and a sale with a chip card, paper out mid-receipt and a modem that
goes down behave as on the simulated devices (what the virtual ARM
handset's host side does with the same peers)."""

import pytest

from emulator.handset import Handset
from emulator.peripherals.peers import HandsetPeers
from firmware.texts import MESSAGES
from tests.flows import cashier

PAPER_OUT_TEXT = MESSAGES["PAPER_OUT"][1]


@pytest.fixture
def peers():
    bundle = HandsetPeers().start()
    yield bundle
    bundle.stop()


@pytest.fixture
def serial_handset(tmp_path, host, peers):
    from tests.conftest import TEST_SETTINGS
    devices = peers.addresses()
    devices["printer"] += "&line_ms=0"
    settings = dict(TEST_SETTINGS, host_port=host.port)
    handset = Handset(tmp_path / "handset", settings=settings, devices=devices)
    handset.start()
    yield handset
    handset.power_cut()
    for device in handset.app.devices.all():
        device.close()


def test_a_chip_sale_through_the_serial_drivers(serial_handset, peers, host):
    h = serial_handset
    h.wait_idle()
    h.keys("2000")
    h.enter()
    h.wait_text("Swipe, insert or tap card")
    peers.card("insert", "chip-pin")
    h.wait_text("enter PIN")
    h.keys("888888")
    h.enter()
    h.wait_text("remove card")
    peers.card("remove")
    h.wait_text("Sale approved")
    h.wait_idle()
    txn = cashier.last_txn(h)
    assert txn["status"] == "approved" and txn["amount"] == 2000
    slips = peers.printer.slips()
    assert len(slips) == 2 and b"CARDHOLDER COPY" in slips[1]


def test_paper_out_mid_receipt_then_back(serial_handset, peers):
    h = serial_handset
    peers.paper("out", after=300)
    h.wait_idle()
    h.keys("123")
    h.enter()
    h.wait_text("Swipe, insert or tap card")
    peers.card("swipe", "debit-mag")
    h.wait_text(PAPER_OUT_TEXT)
    assert 0 < len(peers.printer.printed) <= 300
    peers.paper("in")
    h.wait_idle()
    slips = peers.printer.slips()
    assert len(slips) == 2
    from firmware import escpos
    text = escpos.decode_text(slips[0], h.app.gb_table)
    assert len([line for line in text if "MERCHANT COPY" in line]) == 1


def test_a_modem_that_goes_down_means_nothing_was_sent(serial_handset, peers):
    """As with the simulated modem (tests/flows/test_faults.py): host
    unreachable, the sale journaled as not sent; back up, the next goes."""
    h = serial_handset
    peers.modem("down")
    swiped_sale(h, peers, 100, "Host unreachable")
    assert h.journal()[-1]["status"] == "not_sent"
    peers.modem("up")
    swiped_sale(h, peers, 100, "Sale approved")
    assert cashier.last_txn(h)["status"] == "approved"


def swiped_sale(h, peers, amount, expect):
    h.wait_idle()
    h.keys(str(amount))
    h.enter()
    h.wait_text("Swipe, insert or tap card")
    peers.card("swipe", "debit-mag")
    h.wait_text(expect)
    h.wait_idle()
