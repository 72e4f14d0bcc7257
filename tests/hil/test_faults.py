"""The field's troubles over the test port: paper, host, power. These need
switches only the emulator has; on a handset they skip."""

from tests.flows import cashier


def test_paper_out_before_a_sale_waits_then_prints_both_copies_once(dut):
    dut.require("paper")
    before = dut.printout_count()
    dut.paper_out()
    dut.keys("600")
    dut.enter()
    dut.wait_text("Swipe, insert or tap card")
    dut.card("swipe", "debit-mag")
    dut.wait_text("Printer out of paper")
    assert dut.printout_count() == before
    dut.paper_in()
    dut.wait_text("Sale approved")
    dut.wait_idle()
    slips = dut.printout_text(before)
    assert len(slips) == 2
    assert [t["type"] for t in dut.journal()[-1:]] == ["sale"]


def test_paper_runs_out_mid_receipt_and_resumes_without_repeating(dut):
    dut.require("paper")
    before = dut.printout_count()
    dut.paper_out(after=200)
    dut.keys("700")
    dut.enter()
    dut.wait_text("Swipe, insert or tap card")
    dut.card("swipe", "debit-mag")
    dut.wait_text("Printer out of paper")
    dut.paper_in()
    dut.wait_text("Sale approved")
    dut.wait_idle()
    slips = dut.printout_text(before)
    assert len(slips) == 2   # the interrupted merchant copy was finished, not started again
    assert slips[0][1].count("商户存根 MERCHANT COPY") == 1 and "RMB 7.00" in "\n".join(slips[0][1])
    assert [t["status"] for t in dut.journal() if t["amount"] == 700] == ["approved"]


def test_host_down_then_back(dut):
    dut.require("host")
    dut.host_down()
    dut.sale(100, "debit-mag", expect="Host unreachable")
    assert dut.journal()[-1]["status"] == "not_sent"
    dut.host_up()
    txn = dut.sale(100, "debit-mag")
    assert txn["status"] == "approved"


def test_power_cut_mid_refund_then_recovery_pays_it_once(dut):
    dut.require("power_cut")
    sale = dut.sale(3000, "debit-mag")
    # The host books the refund but its answer never comes; the power goes
    # while the terminal waits for it.
    dut.host_fault("no_reply", mti="0220")
    cashier.start_refund(dut, sale["rrn"], sale["date"])
    dut.wait_text("Enter refund amount")
    dut.keys("1200")
    dut.enter()
    dut.wait_text("Swipe, insert or tap card")
    dut.card("swipe", "debit-mag")
    dut.wait_text("Processing")
    dut.power_cut()
    assert not dut.call("screen")["ok"]   # nothing answers but the bridge
    dut.reset()
    dut.wait_idle()
    refunds = [t for t in dut.journal() if t["type"] == "refund" and t["orig"]["rrn"] == sale["rrn"]]
    assert len(refunds) == 1
    assert refunds[0]["status"] == "approved" and refunds[0]["amount"] == 1200
    # the refund's receipts, printed at boot once the host answered (the
    # printout index starts again at 0 after a reboot: it is kept in RAM)
    slips = ["\n".join(lines) for _, lines in dut.printout_text(0)]
    assert len(slips) == 2 and all("12.00" in slip for slip in slips)
    # what is left of the original is exactly what was not refunded
    dut.refund(sale, 1801, expect="Refund exceeds original")
    dut.refund(sale, 1800)
