"""Reversal (冲正): an outcome the terminal cannot know is reversed, once."""

import os
import signal
import subprocess
import sys
import time

import pytest

from hal.sim.deck import find_card
from tests.flows import cashier
from tests.flows.test_sale import recorded_requests


def reversals_sent(host):
    return recorded_requests(host.record_path, "0400")


@pytest.mark.parametrize("fault, message, reason", [
    ("no_reply", "No host reply, reversed", "98"),
    ("bad_mac", "Reply MAC error, reversed", "A0"),
    ("garbage", "Bad host reply, reversed", "96"),
])
def test_an_unusable_answer_leads_to_exactly_one_reversal_and_the_money_comes_back(handset, host, fault,
                                                                                  message, reason):
    """The host applies the sale each time; what comes back (nothing, a bad
    MAC, garbage) is no answer. The terminal reverses with the right reason."""
    card = find_card("debit-mag")
    before = host.balance(card.pan)
    host.faults.add(fault, mti="0200")
    cashier.sale(handset, 4321, "debit-mag", expect=message)
    assert host.balance(card.pan) == before
    sent = reversals_sent(host)
    assert len(sent) == 1 and sent[0][39] == reason
    assert host.count_applied("reversal") == 1
    assert handset.journal()[-1]["status"] == "reversed"
    # the next sale goes through normally, no second reversal
    cashier.sale(handset, 100, "debit-mag")
    assert len(reversals_sent(host)) == 1


@pytest.mark.parametrize("code", ["A0", "99", "97"])
def test_an_unsigned_final_looking_reply_is_no_answer_and_the_sale_is_reversed(handset, host, code):
    """The host debits the card; the reply carries a final-looking code but
    no MAC. It is no answer: the outcome is unknown, so the sale is reversed
    (never booked as a decline while the host keeps the money)."""
    card = find_card("debit-mag")
    before = host.balance(card.pan)
    host.faults.add("unsigned", mti="0200", code=code)
    cashier.sale(handset, 2345, "debit-mag", expect="Reply MAC error, reversed")
    assert host.balance(card.pan) == before
    sent = reversals_sent(host)
    assert len(sent) == 1 and sent[0][39] == "A0"
    assert handset.journal()[-1]["status"] == "reversed"


def test_an_unsigned_reply_to_a_void_is_no_answer_and_the_void_is_reversed(handset, host):
    card = find_card("debit-mag")
    cashier.unlock_supervisor(handset)
    cashier.sale(handset, 3000, "debit-mag")
    sale = cashier.last_txn(handset)
    after_sale = host.balance(card.pan)
    host.faults.add("unsigned", mti="0200", code="A0")
    cashier.void(handset, sale["trace"], expect="Reply MAC error, reversed")
    assert host.balance(card.pan) == after_sale        # the void was undone by its reversal
    assert [t["status"] for t in handset.journal()[-2:]] == ["approved", "reversed"]
    cashier.void(handset, sale["trace"])                # and the sale can still be voided
    assert host.balance(card.pan) == after_sale + 3000


def test_reversal_that_cannot_be_sent_waits_and_goes_first_next_time(handset, host):
    card = find_card("debit-mag")
    before = host.balance(card.pan)
    host.faults.add("no_reply", mti="0200")
    host.faults.add("drop_before", mti="0400", count=3)  # every try of the first round, unapplied
    cashier.sale(handset, 555, "debit-mag", expect="No host reply")
    assert host.balance(card.pan) == before - 555     # the host still holds it
    assert handset.journal()[-1]["status"] == "unknown"
    # a reversal slip was printed for the merchant
    assert any("REVERSAL PENDING" in "\n".join(s) for s in cashier.receipts_text(handset))
    cashier.sale(handset, 100, "debit-mag")
    assert host.balance(card.pan) == before - 100
    assert [t["status"] for t in handset.journal()[-2:]] == ["reversed", "approved"]


def test_power_cut_while_waiting_for_the_reply_reverses_at_boot(make_handset, host):
    handset = make_handset()
    card = find_card("debit-mag")
    before = host.balance(card.pan)
    host.faults.add("no_reply", mti="0200")
    handset.keys("2500")
    handset.enter()
    handset.wait_text("Swipe, insert or tap card")
    handset.card("swipe", "debit-mag")
    _wait_for(lambda: host.balance(card.pan) == before - 2500)
    handset.power_cut()
    frames_before = len(_frames(host))
    handset.start()
    assert host.balance(card.pan) == before
    first_after_boot = _frames(host)[frames_before]
    assert first_after_boot == "0400"


def test_process_killed_mid_request_reverses_first_after_restart(tmp_path, host):
    """The real thing: the firmware process is SIGKILLed after the request
    left; a new process boots from the same data directory."""
    card = find_card("debit-mag")
    before = host.balance(card.pan)
    host.faults.add("no_reply", mti="0200")
    data = str(tmp_path / "killed")
    child = subprocess.Popen([sys.executable, "-m", "tests.flows.sale_child", data, str(host.port), "3000"],
                             cwd=os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        _wait_for(lambda: host.balance(card.pan) == before - 3000, timeout_s=30)
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.wait(10)
    frames_before = len(_frames(host))
    from emulator.handset import Handset
    from tests.conftest import TEST_SETTINGS
    settings = dict(TEST_SETTINGS, host_port=host.port)
    restarted = Handset(data, settings=settings)
    restarted.start()
    try:
        assert _frames(host)[frames_before] == "0400"
        assert host.balance(card.pan) == before
        assert restarted.journal()[-1]["status"] == "reversed"
    finally:
        restarted.power_cut()


def _frames(host):
    """MTIs of the requests the host received, in order."""
    from firmware import iso8583
    mtis = []
    with open(host.record_path) as f:
        for line in f:
            _when, direction, hexdata = line.split()
            if direction == "in":
                _t, _h, body = iso8583.unframe(bytes.fromhex(hexdata)[2:])
                mtis.append(iso8583.unpack(body)[0])
    return mtis


def _wait_for(condition, timeout_s=10):
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError("condition not met in %s s" % timeout_s)


def test_a_reversal_the_host_could_not_process_is_tried_again(handset, host):
    card = find_card("debit-mag")
    before = host.balance(card.pan)
    host.faults.add("drop", mti="0200", count=1)                  # sale applied, reply lost
    host.faults.add("decline", mti="0400", count=3, code="96")    # the host cannot process reversals now
    cashier.sale(handset, 5000, "debit-mag", expect="No host reply")
    assert handset.journal()[-1]["status"] == "unknown"
    assert host.balance(card.pan) == before - 5000
    cashier.sale(handset, 100, "debit-mag")                       # reversal first, then the sale
    assert [t["status"] for t in handset.journal()] == ["reversed", "approved"]
    assert host.balance(card.pan) == before - 100
