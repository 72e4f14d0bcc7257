"""Reprint and settlement over the test port."""


def test_reprint_of_the_last_receipt_is_marked_reprint(dut):
    sale = dut.sale(888, "debit-mag")
    before = dut.printout_count()
    dut.reprint_last()
    slips = dut.printout_text(before)
    assert len(slips) == 1   # the merchant's copy only
    text = "\n".join(slips[0][1])
    assert "REPRINT" in text and "RMB 8.88" in text and sale["rrn"] in text


def test_settlement_closes_the_batch(dut):
    dut.sale(500, "debit-mag")
    batch = dut.journal()[-1]["batch"]
    before = dut.printout_count()
    dut.settle()
    report = "\n".join(dut.printout_text(before)[-1][1])
    assert "SETTLEMENT" in report and "%06d" % batch in report
    assert dut.journal() == []   # a new, empty batch
    txn = dut.sale(100, "debit-mag")
    assert txn["batch"] != batch
