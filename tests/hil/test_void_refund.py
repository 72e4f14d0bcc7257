"""Void, refund and partial refunds over the test port."""

from tests.flows import cashier


def test_void_marks_the_sale_and_a_second_void_is_refused(dut):
    sale = dut.sale(1500, "debit-mag")
    before = dut.printout_count()
    void = dut.void(sale["trace"])
    assert void["type"] == "void" and void["status"] == "approved" and void["amount"] == 1500
    assert void["orig"]["trace"] == sale["trace"]
    slip = "\n".join(dut.printout_text(before)[0][1])
    assert "VOID" in slip.upper() and "-15.00" in slip
    dut.void(sale["trace"], expect="!Original already voided")
    voids = [t for t in dut.journal() if t["type"] == "void" and t["orig"]["trace"] == sale["trace"]]
    assert len(voids) == 1
    original = [t for t in dut.journal() if t["type"] == "sale" and t["trace"] == sale["trace"]]
    assert original[0]["status"] == "voided" and sale["status"] == "approved"


def test_void_of_an_unknown_trace_is_refused(dut):
    dut.void(999999, expect="!Original not found")


def test_full_refund(dut):
    sale = dut.sale(2000, "debit-mag")
    refund = dut.refund(sale, 2000)
    assert refund["type"] == "refund" and refund["status"] == "approved" and refund["amount"] == 2000
    assert refund["orig"]["rrn"] == sale["rrn"]
    # nothing left: refused as soon as the original is known, before the amount
    cashier.start_refund(dut, sale["rrn"], sale["date"])
    dut.wait_text("Refund exceeds original")
    dut.wait_idle()


def test_partial_refunds_add_up_to_the_original_and_no_further(dut):
    sale = dut.sale(1000, "debit-mag")
    dut.refund(sale, 300)
    dut.refund(sale, 300)
    dut.refund(sale, 401, expect="Refund exceeds original")
    dut.refund(sale, 400)
    refunds = [t for t in dut.journal() if t["type"] == "refund" and t["orig"]["rrn"] == sale["rrn"]]
    assert [t["amount"] for t in refunds] == [300, 300, 400]
    assert all(t["status"] == "approved" for t in refunds)
    original = [t for t in dut.journal() if t["type"] == "sale" and t["rrn"] == sale["rrn"]]
    assert original[0]["status"] == "refunded" and original[0]["refunded"] == 1000
