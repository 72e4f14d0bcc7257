"""QR payment (扫码收款) end to end: the cashier scans the customer's code
(B2C) or shows a code (C2B); paid at once, declined, waiting for the
customer then paid, waiting until the time limit (cancelled: the order is
reversed, nothing taken), the cashier cancelling, and a power cut while
waiting (reversed at boot). Host books and journal agree to the fen."""

from firmware import qrpay
from hal.sim.deck import find_payment_code
from tests.flows import cashier

WX = find_payment_code("wx-pay")
CONFIRM = find_payment_code("ali-confirm")
FAST = {"qr_poll_ms": 200, "qr_wait_ms": 3000}


def start_qr(h, how, amount):
    cashier.menu(h, "8")
    h.wait_text("1.Scan customer's code")
    h.keys(how)
    h.wait_text("Enter amount")
    h.keys(str(amount))
    h.enter()


def scan(h, name_or_text):
    h.wait_text("Scan customer's payment code")
    h.call(h.app.devices.scanner.present, name_or_text)


def order_of(h):
    return cashier.last_txn(h)["order"]


def test_b2c_paid_at_once(make_handset, host):
    h = make_handset(**FAST)
    before = host.balance(WX.code)
    start_qr(h, "1", 1234)
    scan(h, "wx-pay")
    h.wait_text("QR payment approved")
    h.wait_idle()
    txn = cashier.last_txn(h)
    assert (txn["status"], txn["amount"]) == ("approved", 1234)
    assert host.balance(WX.code) == before - 1234
    slips = ["\n".join(slip) for slip in cashier.receipts_text(h)]
    assert len(slips) == 2
    assert "RMB 12.34" in slips[0] and "WECHAT PAY" in slips[0] and txn["order"] in slips[0]
    assert WX.code not in slips[0] + slips[1]           # the customer's code is never printed


def test_a_code_of_no_wallet_is_refused_before_anything_is_sent(make_handset, host):
    h = make_handset(**FAST)
    sent_before = len(host.transactions())
    start_qr(h, "1", 100)
    scan(h, "99123456")                    # a loyalty barcode, not a payment code
    h.wait_text("Not a payment code")
    h.wait_idle()
    assert len(host.transactions()) == sent_before


def test_b2c_declined_by_the_wallet(make_handset, host):
    h = make_handset(**FAST)
    start_qr(h, "1", 100)
    scan(h, "ali-refuse")
    h.wait_text("(51)")
    h.wait_idle()
    assert cashier.last_txn(h)["status"] == "declined"


def test_b2c_waiting_then_paid(make_handset, host):
    h = make_handset(**FAST)
    before = host.balance(CONFIRM.code)
    start_qr(h, "1", 5000)
    scan(h, "ali-confirm")
    h.wait_text("Waiting for the customer")
    host.acquirer.qr.customer_pays(order_of(h))
    h.wait_text("QR payment approved")
    h.wait_idle()
    txn = cashier.last_txn(h)
    assert txn["status"] == "approved" and txn["rc"] == "00"
    assert h.app.state.find(txn["batch"], txn["trace"]).get("auth")
    assert host.balance(CONFIRM.code) == before - 5000


def test_b2c_waiting_until_the_limit_is_cancelled_and_nothing_taken(make_handset, host):
    h = make_handset(**FAST)
    before = host.balance(CONFIRM.code)
    start_qr(h, "1", 700)
    scan(h, "ali-confirm")
    h.wait_text("Waiting for the customer")
    order = order_of(h)
    h.wait_text("Cancelled: not charged", timeout_ms=15000)
    h.wait_idle()
    assert cashier.last_txn(h)["status"] == "reversed"
    assert host.acquirer.qr.order(order)["status"] == "CLOSED"
    assert host.acquirer.qr.customer_pays(order) == "CLOSED"     # too late to pay it
    assert host.balance(CONFIRM.code) == before


def test_cashier_cancels_while_waiting(make_handset, host):
    h = make_handset(qr_poll_ms=500, qr_wait_ms=30000)
    start_qr(h, "1", 800)
    scan(h, "ali-confirm")
    h.wait_text("Waiting for the customer")
    h.key("CANCEL")
    h.wait_text("Cancelled: not charged")
    h.wait_idle()
    assert host.acquirer.qr.order(order_of(h))["status"] == "CLOSED"


def test_customer_cancels_on_the_phone(make_handset, host):
    h = make_handset(**FAST)
    start_qr(h, "1", 900)
    scan(h, "ali-confirm")
    h.wait_text("Waiting for the customer")
    host.acquirer.qr.customer_cancels(order_of(h))
    h.wait_text("Not paid: the order is closed")
    h.wait_idle()
    assert cashier.last_txn(h)["status"] == "declined"


def test_power_cut_while_waiting_reverses_at_boot(make_handset, host, tmp_path):
    h = make_handset(qr_poll_ms=500, qr_wait_ms=30000)
    before = host.balance(CONFIRM.code)
    start_qr(h, "1", 600)
    scan(h, "ali-confirm")
    h.wait_text("Waiting for the customer")
    order = order_of(h)
    h.power_cut()
    h2 = make_handset(qr_poll_ms=500, qr_wait_ms=30000)
    h2.wait_idle()
    assert host.acquirer.qr.order(order)["status"] == "CLOSED"
    assert [t["status"] for t in h2.journal()][-1] == "reversed"
    assert host.acquirer.qr.customer_pays(order) == "CLOSED"
    assert host.balance(CONFIRM.code) == before


def test_c2b_code_shown_then_paid(make_handset, host):
    h = make_handset(**FAST)
    before = host.balance(WX.code)
    start_qr(h, "2", 2500)
    h.wait_text("Customer: scan with your phone")
    url = [line for line in h.app.devices.display.lines if line.startswith("QR: ")][0][4:]
    assert url.startswith("https://") and url.endswith(order_of(h))
    host.acquirer.qr.customer_pays(order_of(h), WX.code)
    h.wait_text("QR payment approved")
    h.wait_idle()
    assert cashier.last_txn(h)["status"] == "approved"
    assert host.balance(WX.code) == before - 2500


def test_c2b_code_expires(make_handset, host):
    h = make_handset(**FAST)
    start_qr(h, "2", 2500)
    h.wait_text("Customer: scan with your phone")
    order = order_of(h)
    h.wait_text("Cancelled: not charged", timeout_ms=15000)
    assert host.acquirer.qr.order(order)["status"] == "CLOSED"
    assert qrpay.channel_of(WX.code) == qrpay.WECHAT
