"""Settlement (结算) and reprint (重打印)."""

import pytest

from tests.flows import cashier
from tests.flows.test_sale import recorded_requests


def settle(h, expect="Settlement done"):
    cashier.menu(h, "5")
    cashier.supervisor(h)
    h.wait_text(expect)
    h.wait_idle()


def reprint(h, choice, trace=None, expect=None):
    cashier.menu(h, "4")
    h.wait_text("1.Last receipt")
    h.keys(choice)
    if trace is not None:
        h.wait_text("Original trace")
        h.keys(str(trace))
        h.enter()
    if expect:
        h.wait_text(expect)
    h.wait_idle()


def test_settlement_balanced_totals_report_and_a_new_batch(handset, host):
    h = handset
    cashier.unlock_supervisor(h)
    cashier.sale(h, 1000, "debit-mag")
    cashier.sale(h, 2000, "debit-mag")
    voided = cashier.last_txn(h)
    cashier.void(h, voided["trace"])
    cashier.sale(h, 5000, "debit-mag")
    t = h.app.devices.clock.now()
    cashier.refund(h, cashier.last_txn(h)["rrn"], "%02d%02d" % (t[1], t[2]), 700)
    batch = h.app.state.batch
    settle(h)
    settled = host.settlements()[-1]
    assert settled["result"].startswith("1")
    # debit = sales still standing (10.00 + 50.00), credit = refunds (7.00)
    assert settled["terminal_totals"][:31] == "000000006000002000000000700001" + "0"
    assert h.app.state.batch == batch + 1
    report = "\n".join(cashier.receipts_text(h)[-1])
    assert "SETTLEMENT" in report and "BALANCED" in report and "UNBALANCED" not in report
    assert "%06d" % batch in report
    assert h.journal() == []   # the new batch is empty
    # the next sale lands in the new batch with the host too
    cashier.sale(h, 100, "debit-mag")
    assert h.journal()[0]["batch"] == batch + 1


def test_unbalanced_settlement_uploads_the_batch(handset, host):
    h = handset
    cashier.unlock_supervisor(h)
    cashier.sale(h, 1000, "debit-mag")
    # The terminal believes in a sale the host never booked.
    state = h.app.state
    h.call(lambda: state.record("txn", batch=state.batch, trace=state.next_trace(), type="sale",
                                amount=123, state="sent", time="20261122120000", op="01", req={"3": "000000"},
                                mti="0200"))
    h.call(lambda: state.record("reply", batch=state.batch, trace=state.last_trace, state="approved",
                                rc="00", rrn="999999999999"))
    settle(h, expect="Unbalanced: batch uploaded")
    uploads = host.batch_uploads()
    assert len(uploads) == 3   # two transactions, then the end marker
    assert uploads[-1]["network_code"] == "207"
    assert "UNBALANCED" in "\n".join(cashier.receipts_text(h)[-1])


def test_settlement_sends_a_pending_reversal_first(handset, host):
    h = handset
    cashier.unlock_supervisor(h)
    host.faults.add("no_reply", mti="0200")
    host.faults.add("drop_before", mti="0400", count=3)
    cashier.sale(h, 900, "debit-mag", expect="No host reply")
    settle(h)
    assert h.app.state.settled_batches
    assert host.settlements()[-1]["result"].startswith("1")


def test_reprint_last_by_trace_and_settlement_all_marked_reprint(handset, host):
    h = handset
    cashier.unlock_supervisor(h)
    cashier.sale(h, 1100, "debit-mag")
    first = cashier.last_txn(h)
    cashier.sale(h, 2200, "debit-mag")
    host.stop_thread()                    # reprint works offline
    count = h.printout_count()
    reprint(h, "1")
    last = "\n".join(cashier.receipts_text(h, count)[0])
    assert "REPRINT" in last and "重打印凭证" in last and "RMB 22.00" in last
    count = h.printout_count()
    reprint(h, "2", first["trace"])
    by_trace = "\n".join(cashier.receipts_text(h, count)[0])
    assert "REPRINT" in by_trace and "RMB 11.00" in by_trace
    reprint(h, "2", 4242, expect="Original not found")
    reprint(h, "3", expect="Nothing to reprint")


def test_reprint_of_the_last_settlement(handset, host):
    h = handset
    cashier.unlock_supervisor(h)
    cashier.sale(h, 1100, "debit-mag")
    settle(h)
    count = h.printout_count()
    reprint(h, "3")
    report = "\n".join(cashier.receipts_text(h, count)[0])
    assert "SETTLEMENT" in report and "REPRINT" in report


def test_a_settled_batch_is_never_reopened(handset, host):
    """Not by a power cut after settlement (one journal record closes the
    batch and opens the next), nor by a host that still names the old batch."""
    h = handset
    cashier.unlock_supervisor(h)
    cashier.sale(h, 1000, "debit-mag")
    old = cashier.last_txn(h)
    settle(h)
    host.ledger._sql("UPDATE terminals SET batch = 1")   # a host that numbers batches its own way
    h.reboot()
    assert h.app.state.batch == old["batch"] + 1
    cashier.void(h, old["trace"], expect="!Other batch: use refund")


def test_settlement_report_counts_sales_still_standing(handset, host):
    h = handset
    cashier.unlock_supervisor(h)
    cashier.sale(h, 1000, "debit-mag")
    cashier.sale(h, 2000, "debit-mag")
    cashier.void(h, cashier.last_txn(h)["trace"])
    settle(h)
    report = cashier.receipts_text(h)[-1]
    sale_line = [line for line in report if line.startswith("消费 SALE")][0]
    void_line = [line for line in report if line.startswith("撤销 VOID")][0]
    assert sale_line.split()[-2:] == ["1", "10.00"]
    assert void_line.split()[-2:] == ["1", "20.00"]


@pytest.mark.parametrize("fault", ["no_reply", "garbage", "bad_mac"])
def test_a_settlement_without_a_usable_reply_says_so_and_is_finished_before_the_next_sale(handset, host,
                                                                                        fault):
    """The host settles the batch, its 0510 is lost: the terminal says the
    outcome is unknown (never "reversed"), keeps the settlement open, and
    finishes it (0500 again, same trace; the host replays its verdict)
    before the next sale, which lands in the new batch. Settled once."""
    h = handset
    cashier.unlock_supervisor(h)
    cashier.sale(h, 1000, "debit-mag")
    batch = h.app.state.batch
    host.faults.add(fault, mti="0500")
    settle(h, expect="Settlement unconfirmed")
    screens = "\n".join(" ".join(lines) for _g, _t, lines in h.app.devices.display.recent)
    assert "reversed" not in screens
    assert h.app.state.settling == {"batch": batch, "trace": h.app.state.settling["trace"]}
    assert h.app.state.batch == batch             # nothing settled as far as the terminal knows
    cashier.sale(h, 200, "debit-mag")
    assert h.app.state.settling is None and batch in h.app.state.settled_batches
    assert h.journal()[0]["batch"] == batch + 1 and h.journal()[0]["amount"] == 200
    assert len(host.settlements()) == 1
    sent = recorded_requests(host.record_path, "0500")
    assert len(sent) == 2 and sent[0][11] == sent[1][11]
    assert any("SETTLEMENT" in "\n".join(s) for s in cashier.receipts_text(h))
    sale_row = host.transactions()[-1]
    assert (sale_row["batch"], sale_row["amount"]) == (batch + 1, 200)


def test_power_cut_after_the_0500_left_is_finished_at_boot(make_handset, host):
    h = make_handset()
    cashier.unlock_supervisor(h)
    cashier.sale(h, 1000, "debit-mag")
    batch = h.app.state.batch
    host.faults.add("no_reply", mti="0500")
    cashier.menu(h, "5")
    cashier.supervisor(h)
    _wait_for(lambda: len(host.settlements()) == 1)
    h.power_cut()
    h.start()
    assert batch in h.app.state.settled_batches and h.app.state.settling is None
    assert len(host.settlements()) == 1
    cashier.sale(h, 300, "debit-mag")
    assert host.transactions()[-1]["batch"] == batch + 1


def test_a_settlement_that_never_left_leaves_the_batch_open(handset, host):
    h = handset
    cashier.unlock_supervisor(h)
    cashier.sale(h, 1000, "debit-mag")
    batch = h.app.state.batch
    h.app.devices.modem.powered = False
    settle(h, expect="Host unreachable")
    h.app.devices.modem.powered = True
    assert h.app.state.settling is None and h.app.state.batch == batch
    cashier.sale(h, 100, "debit-mag")
    assert [t["amount"] for t in h.journal()] == [1000, 100]
    settle(h)
    assert host.settlements()[-1]["terminal_totals"][:15] == "000000001100002"


def _wait_for(condition, timeout_s=10):
    import time
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError("condition not met in %s s" % timeout_s)
