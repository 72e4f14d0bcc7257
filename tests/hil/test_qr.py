"""QR payments over the test port: the scanner reads the customer's code
(B2C), or the customer scans the terminal's code (C2B); the customer's
phone is the host's side (qr_customer, emulator and virtual handset only)."""

from tests.flows import cashier


def last(dut):
    return dut.journal()[-1]


def test_b2c_paid_at_once(dut):
    before = dut.printout_count()
    cashier.qr_start(dut, "1", 1234)
    cashier.qr_scan(dut, "wx-pay")
    dut.wait_text("QR payment approved")
    dut.wait_idle()
    txn = last(dut)
    assert (txn["status"], txn["amount"], txn["channel"]) == ("approved", 1234, "wechat")
    merchant = "\n".join(dut.printout_text(before)[0][1])
    assert "WECHAT PAY" in merchant and txn["order"] in merchant


def test_b2c_waiting_then_the_customer_pays(dut):
    dut.require("qr_customer")
    cashier.qr_start(dut, "1", 5000)
    cashier.qr_scan(dut, "ali-confirm")
    dut.wait_text("Waiting for the customer")
    assert dut.qr_customer(last(dut)["order"]) == "PAID"
    dut.wait_text("QR payment approved", timeout_ms=20000)
    dut.wait_idle()
    assert last(dut)["status"] == "approved"


def test_c2b_code_on_screen_paid_by_a_wallet(dut):
    dut.require("qr_customer")
    cashier.qr_start(dut, "2", 2500)
    dut.wait_text("Customer: scan with your phone")
    assert any(line.startswith("QR: https://") for line in dut.screen()["lines"])
    assert dut.qr_customer(last(dut)["order"], wallet="up-pay") == "PAID"
    dut.wait_text("QR payment approved", timeout_ms=20000)
    dut.wait_idle()
    assert last(dut)["channel"] == "unionpay"


def test_a_code_of_no_wallet_is_refused(dut):
    sent = len(dut.journal())
    cashier.qr_start(dut, "1", 100)
    cashier.qr_scan(dut, "99123456")
    dut.wait_text("Not a payment code")
    dut.wait_idle()
    assert len(dut.journal()) == sent
