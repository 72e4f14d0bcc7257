"""Settlement (结算) and reprint (重打印)."""

from tests.flows import cashier


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
