"""Void (消费撤销): every rule of DESIGN.md, host ledger and journal agreeing."""

import pytest

from hal.sim.deck import find_card
from tests.flows import cashier
from tests.flows.test_sale import recorded_requests

PAN = find_card("debit-mag").pan


@pytest.fixture
def unlocked(handset):
    cashier.unlock_supervisor(handset)
    return handset


def test_factory_password_must_be_changed_before_the_first_void(handset, host):
    cashier.sale(handset, 800, "debit-mag")
    cashier.menu(handset, "2")
    cashier.supervisor(handset, "123456")
    handset.wait_text("Change factory password")
    cashier.change_factory_password(handset)
    handset.wait_text("Original trace")
    handset.key("CANCEL")
    handset.wait_idle()


def test_void_of_a_sale_puts_the_money_back(unlocked, host):
    h = unlocked
    before = host.balance(PAN)
    cashier.sale(h, 1500, "debit-mag")
    sale = cashier.last_txn(h)
    cashier.void(h, sale["trace"])
    void = cashier.last_txn(h)
    assert void["type"] == "void" and void["status"] == "approved" and void["amount"] == 1500
    assert host.balance(PAN) == before
    request = recorded_requests(host.record_path, "0200")[-1]
    assert request[3] == "200000" and request[4] == "000000001500"
    assert request[37] == sale["rrn"]
    assert request[61] == "%06d%06d" % (sale["batch"], sale["trace"])
    assert request[60][:2] == "23"
    slip = "\n".join(cashier.receipts_text(h)[-1])
    assert "RMB -15.00" in slip and "ORIG VOUCHER:%06d" % sale["trace"] in slip


@pytest.mark.parametrize("case", ["unknown", "twice", "void_of_void", "refunded", "declined"])
def test_void_refusals(unlocked, host, case):
    h = unlocked
    if case == "declined":
        cashier.sale(h, 5000, "low-funds", expect="Insufficient funds")
        trace, expect = cashier.last_txn(h)["trace"], "Original was declined"
    else:
        cashier.sale(h, 600, "debit-mag")
        sale = cashier.last_txn(h)
        trace = sale["trace"]
        if case == "unknown":
            trace, expect = 999, "Original not found"
        elif case == "twice":
            cashier.void(h, trace)
            expect = "Original already voided"
        elif case == "void_of_void":
            cashier.void(h, trace)
            trace, expect = cashier.last_txn(h)["trace"], "Original is not a sale"
        else:
            t = h.app.devices.clock.now()
            cashier.refund(h, sale["rrn"], "%02d%02d" % (t[1], t[2]), 100)
            expect = "Already refunded, cannot void"
    balance = host.balance(PAN)
    cashier.void(h, trace, expect="!" + expect)
    assert host.balance(PAN) == balance


def test_void_of_another_batch_is_refused(unlocked, host):
    h = unlocked
    cashier.sale(h, 300, "debit-mag")
    trace = cashier.last_txn(h)["trace"]
    cashier.menu(h, "5")
    cashier.supervisor(h)
    h.wait_text("Settlement done")
    h.wait_idle()
    cashier.void(h, trace, expect="!Other batch: use refund")


def test_void_with_another_card_is_refused(unlocked, host):
    h = unlocked
    cashier.sale(h, 300, "debit-mag")
    cashier.void(h, cashier.last_txn(h)["trace"], card="debit-pin", expect="Card differs from original")


def test_void_of_a_sale_whose_reversal_is_pending_reverses_it_and_refuses(unlocked, host):
    """A real terminal sends the reversal first; a reversed sale is never voided."""
    h = unlocked
    before = host.balance(PAN)
    host.faults.add("no_reply", mti="0200")
    host.faults.add("drop_before", mti="0400", count=3)
    cashier.sale(h, 777, "debit-mag", expect="No host reply")
    trace = cashier.last_txn(h)["trace"]
    assert h.journal()[-1]["status"] == "unknown"
    cashier.void(h, trace, expect="!Original was reversed")
    assert host.balance(PAN) == before
    assert [t["type"] for t in h.journal()] == ["sale"]
