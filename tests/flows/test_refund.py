"""Refund (退货): partial refunds, the cap, and never paid twice."""

import pytest

from hal.sim.deck import find_card
from tests.flows import cashier
from tests.flows.test_sale import recorded_requests

PAN = find_card("debit-mag").pan


@pytest.fixture
def sold(handset, host):
    """An unlocked supervisor and a 100.00 sale; -> (handset, sale record)."""
    cashier.unlock_supervisor(handset)
    cashier.sale(handset, 10000, "debit-mag")
    return handset, cashier.last_txn(handset)


def mmdd(handset):
    t = handset.app.devices.clock.now()
    return "%02d%02d" % (t[1], t[2])


def test_partial_refunds_up_to_the_original_and_no_further(sold, host):
    h, sale = sold
    after_sale = host.balance(PAN)
    cashier.refund(h, sale["rrn"], mmdd(h), 3000)
    cashier.refund(h, sale["rrn"], mmdd(h), 5000)
    assert host.balance(PAN) == after_sale + 8000
    cashier.refund(h, sale["rrn"], mmdd(h), 2001, expect="Refund exceeds original")
    assert host.balance(PAN) == after_sale + 8000
    cashier.refund(h, sale["rrn"], mmdd(h), 2000)
    assert host.balance(PAN) == after_sale + 10000
    assert host.refunded_total(sale["rrn"]) == 10000
    refunds = [t for t in h.journal() if t["type"] == "refund"]
    assert [r["amount"] for r in refunds] == [3000, 5000, 2000]
    request = recorded_requests(host.record_path, "0220")[-1]
    assert request[3] == "200000" and request[37] == sale["rrn"]
    assert request[61] == "000000000000" + mmdd(h)
    slip = "\n".join(cashier.receipts_text(h)[-1])
    assert "RMB -20.00" in slip and "ORIG REF:" + sale["rrn"] in slip


def test_refund_cap_setting(sold, host):
    h, sale = sold
    h.call(h.app.settings.update, {"refund_max_fen": 1000})
    cashier.refund(h, sale["rrn"], mmdd(h), 1001, expect="Over refund limit 10.00")


def test_refund_of_an_original_the_terminal_does_not_know_is_checked_by_the_host(sold, host):
    h, _ = sold
    cashier.refund(h, "000000000000", mmdd(h), 100, expect="Original not found (25)")


def test_unanswered_refund_is_resent_with_the_same_trace_and_paid_once(sold, host):
    h, sale = sold
    after_sale = host.balance(PAN)
    # the host applies the refund but the answer never arrives, three times
    host.faults.add("no_reply", mti="0220", count=3)
    cashier.refund(h, sale["rrn"], mmdd(h), 2500, expect="Refund unconfirmed")
    assert host.balance(PAN) == after_sale + 2500
    pending = h.journal()[-1]
    assert pending["status"] == "unknown"
    # a reboot mid-way: the refund goes again at boot, same trace, answered
    h.reboot()
    assert h.journal()[-1]["status"] == "approved"
    assert h.journal()[-1]["trace"] == pending["trace"]
    traces = {r[11] for r in recorded_requests(host.record_path, "0220")}
    assert traces == {"%06d" % pending["trace"]}
    assert host.balance(PAN) == after_sale + 2500
    assert host.refunded_total(sale["rrn"]) == 2500
    # and the rest of the original is still refundable, exactly
    cashier.refund(h, sale["rrn"], mmdd(h), 7501, expect="Refund exceeds original")
    cashier.refund(h, sale["rrn"], mmdd(h), 7500)
    assert host.balance(PAN) == after_sale + 10000


def test_refund_reply_dropped_then_retried_inside_the_flow(sold, host):
    h, sale = sold
    after_sale = host.balance(PAN)
    host.faults.add("drop", mti="0220", count=1)   # applied, connection closed, no answer
    cashier.refund(h, sale["rrn"], mmdd(h), 1000)   # the flow resends and the host recognises it
    assert host.balance(PAN) == after_sale + 1000
    assert len([t for t in h.journal() if t["type"] == "refund"]) == 1


def test_an_unsigned_reply_to_a_refund_is_no_answer_and_the_refund_is_resent(sold, host):
    """The host pays the refund; its reply says A0 unsigned. No answer: the
    refund goes again with the same trace and the host's true-repeat
    answer (signed 00) settles it, paid once."""
    h, sale = sold
    after_sale = host.balance(PAN)
    host.faults.add("unsigned", mti="0220", code="A0")
    cashier.refund(h, sale["rrn"], mmdd(h), 1200)
    assert host.balance(PAN) == after_sale + 1200
    refunds = [t for t in h.journal() if t["type"] == "refund"]
    assert len(refunds) == 1 and refunds[0]["status"] == "approved"
    traces = [r[11] for r in recorded_requests(host.record_path, "0220")]
    assert len(traces) == 2 and len(set(traces)) == 1


def test_double_enter_does_not_refund_twice(sold, host):
    h, sale = sold
    after_sale = host.balance(PAN)
    cashier.refund(h, sale["rrn"], mmdd(h), 1000)
    h.enter()
    h.enter()
    h.wait_idle()
    assert host.balance(PAN) == after_sale + 1000
    assert len([t for t in h.journal() if t["type"] == "refund"]) == 1


def test_refund_of_a_voided_sale_is_refused(sold, host):
    h, sale = sold
    cashier.void(h, sale["trace"])
    cashier.start_refund(h, sale["rrn"], mmdd(h))
    h.wait_text("Original already voided")
    h.wait_idle()


def test_a_resend_answered_94_is_not_confirmed_never_successful(sold, host):
    """The host replays a true repeat's first answer, so 94 to a resend
    means it holds a different request under this trace: nothing proves the
    refund was paid. Never "successful": not confirmed, call the acquirer,
    and the settlement report lists it."""
    from tests.flows.test_settle_reprint import settle
    h, sale = sold
    after_sale = host.balance(PAN)
    host.faults.add("drop_before", mti="0220", count=1)   # the first sending never reaches the host
    host.faults.add("decline", mti="0220", count=1, code="94")
    cashier.refund(h, sale["rrn"], mmdd(h), 4000, expect="Refund not confirmed")
    refund = h.journal()[-1]
    assert refund["status"] == "unconfirmed"
    assert host.balance(PAN) == after_sale              # nothing was paid
    screens = [" ".join(lines) for _g, _t, lines in h.app.devices.display.recent]
    assert not any("Refund successful" in s for s in screens)
    # no more resends: the next sale goes straight out
    sent = len(recorded_requests(host.record_path, "0220"))
    cashier.sale(h, 100, "debit-mag")
    assert len(recorded_requests(host.record_path, "0220")) == sent
    settle(h)
    report = "\n".join(cashier.receipts_text(h)[-1])
    assert "UNCONFIRMED REFUNDS" in report and "-40.00" in report and "%06d" % refund["trace"] in report


def test_a_resend_the_host_could_not_process_stays_pending(make_handset, host):
    h = make_handset()
    cashier.unlock_supervisor(h)
    cashier.sale(h, 10000, "debit-mag")
    sale = cashier.last_txn(h)
    after_sale = host.balance(PAN)
    host.faults.add("no_reply", mti="0220", count=3)
    cashier.refund(h, sale["rrn"], mmdd(h), 2500, expect="Refund unconfirmed")
    h.power_cut()
    host.faults.add("decline", mti="0220", count=2, code="96")   # host busy at both resends at boot
    h.start()
    assert h.journal()[-1]["status"] == "unknown"                 # not "declined": the host holds it
    cashier.sale(h, 100, "debit-mag")                             # the next transaction resends it first
    refund = [t for t in h.journal() if t["type"] == "refund"][0]
    assert refund["status"] == "approved"
    assert host.balance(PAN) == after_sale + 2500 - 100


def test_a_fully_refunded_sale_stays_refused_after_settlements(sold, host):
    from tests.flows.test_settle_reprint import settle
    h, sale = sold
    cashier.refund(h, sale["rrn"], mmdd(h), 10000)
    settle(h)
    settle(h)                      # the refund's own record is compacted away now
    sent = len(recorded_requests(host.record_path, "0220"))
    cashier.start_refund(h, sale["rrn"], mmdd(h))
    h.wait_text("Refund exceeds original")     # known, and nothing left: refused before the amount
    h.wait_idle()
    assert len(recorded_requests(host.record_path, "0220")) == sent
