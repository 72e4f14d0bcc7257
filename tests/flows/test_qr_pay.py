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


def order_of(h):
    return cashier.last_txn(h)["order"]


def qr_paid(h, amount, name="wx-pay"):
    cashier.qr_start(h, "1", amount)
    cashier.qr_scan(h, name)
    h.wait_text("QR payment approved")
    h.wait_idle()
    return cashier.last_txn(h)


def test_b2c_paid_at_once(make_handset, host):
    h = make_handset(**FAST)
    before = host.balance(WX.code)
    txn = qr_paid(h, 1234)
    assert (txn["status"], txn["amount"]) == ("approved", 1234)
    assert host.balance(WX.code) == before - 1234
    slips = ["\n".join(slip) for slip in cashier.receipts_text(h)]
    assert len(slips) == 2
    assert "RMB 12.34" in slips[0] and "WECHAT PAY" in slips[0] and txn["order"] in slips[0]
    assert WX.code not in slips[0] + slips[1]           # the customer's code is never printed


def test_a_code_of_no_wallet_is_refused_before_anything_is_sent(make_handset, host):
    h = make_handset(**FAST)
    sent_before = len(host.transactions())
    cashier.qr_start(h, "1", 100)
    cashier.qr_scan(h, "99123456")                    # a loyalty barcode, not a payment code
    h.wait_text("Not a payment code")
    h.wait_idle()
    assert len(host.transactions()) == sent_before


def test_b2c_declined_by_the_wallet(make_handset, host):
    h = make_handset(**FAST)
    cashier.qr_start(h, "1", 100)
    cashier.qr_scan(h, "ali-refuse")
    h.wait_text("(51)")
    h.wait_idle()
    assert cashier.last_txn(h)["status"] == "declined"


def test_b2c_waiting_then_paid(make_handset, host):
    h = make_handset(**FAST)
    before = host.balance(CONFIRM.code)
    cashier.qr_start(h, "1", 5000)
    cashier.qr_scan(h, "ali-confirm")
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
    cashier.qr_start(h, "1", 700)
    cashier.qr_scan(h, "ali-confirm")
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
    cashier.qr_start(h, "1", 800)
    cashier.qr_scan(h, "ali-confirm")
    h.wait_text("Waiting for the customer")
    h.key("CANCEL")
    h.wait_text("Cancelled: not charged")
    h.wait_idle()
    assert host.acquirer.qr.order(order_of(h))["status"] == "CLOSED"


def test_customer_cancels_on_the_phone(make_handset, host):
    h = make_handset(**FAST)
    cashier.qr_start(h, "1", 900)
    cashier.qr_scan(h, "ali-confirm")
    h.wait_text("Waiting for the customer")
    host.acquirer.qr.customer_cancels(order_of(h))
    h.wait_text("Not paid: the order is closed")
    h.wait_idle()
    assert cashier.last_txn(h)["status"] == "declined"


def test_power_cut_while_waiting_reverses_at_boot(make_handset, host, tmp_path):
    h = make_handset(qr_poll_ms=500, qr_wait_ms=30000)
    before = host.balance(CONFIRM.code)
    cashier.qr_start(h, "1", 600)
    cashier.qr_scan(h, "ali-confirm")
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
    cashier.qr_start(h, "2", 2500)
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
    cashier.qr_start(h, "2", 2500)
    h.wait_text("Customer: scan with your phone")
    order = order_of(h)
    h.wait_text("Cancelled: not charged", timeout_ms=15000)
    assert host.acquirer.qr.order(order)["status"] == "CLOSED"
    assert qrpay.channel_of(WX.code) == qrpay.WECHAT


def test_settlement_keeps_qr_apart_and_reports_channels_and_fees(make_handset, host):
    from firmware import fees
    from tests.flows.test_settle_reprint import settle
    h = make_handset(**FAST)
    cashier.unlock_supervisor(h)
    cashier.sale(h, 10000, "debit-mag")
    qr_paid(h, 1234)
    batch = h.app.state.batch
    settle(h)                                     # balanced: F48 carries the card only
    assert host.settlements()[-1]["result"].startswith("1")
    assert host.settlements()[-1]["terminal_totals"][:15] == "000000010000001"
    report = h.app.state.last_settlement
    assert report["batch"] == batch and report["balanced"]
    assert report["channels"] == {"wechat": {"amount": 1234, "count": 1}}
    # fees: debit 0.50 % of 100.00 = 0.50; QR 0.38 % of 12.34 = 4.6892 fen -> 5 (half up)
    assert report["fees"]["debit"]["fee"] == 50 and report["fees"]["qr"]["fee"] == 5
    assert report["fees"]["total"] == {"gross": 11234, "fee": 55, "net": 11179, "count": 2}
    assert fees.fee_fen(1234, (38, None)) == 5
    slip = "\n".join(cashier.receipts_text(h)[-1])
    assert "WECHAT PAY" in slip and "112.34/0.55/111.79" in slip


def refund_without_card(h, rrn, date, amount, expect="Refund successful"):
    cashier.start_refund(h, rrn, date)
    h.wait_text("Enter refund amount")
    h.keys(str(amount))
    h.enter()
    h.wait_text(expect)
    h.wait_idle()


def test_qr_refunds_partial_then_over_the_rest(make_handset, host):
    h = make_handset(**FAST)
    cashier.unlock_supervisor(h)
    before = host.balance(WX.code)
    sale = qr_paid(h, 10000)
    refund_without_card(h, sale["rrn"], sale["date"], 3000)
    refund_without_card(h, sale["rrn"], sale["date"], 5000)
    assert host.balance(WX.code) == before - 2000
    sent = len(host.transactions())
    refund_without_card(h, sale["rrn"], sale["date"], 2001, expect="Refund exceeds original")
    assert len(host.transactions()) == sent                  # refused before anything left
    refund_without_card(h, sale["rrn"], sale["date"], 2000)
    assert host.balance(WX.code) == before
    refunds = [t for t in h.journal() if t["type"] == "refund"]
    assert [t["order"] for t in refunds] == [sale["order"]] * 3
    slip = "\n".join(cashier.receipts_text(h)[-1])
    assert sale["order"] in slip and "RMB -20.00" in slip


def test_qr_void_gives_the_wallet_back(make_handset, host):
    h = make_handset(**FAST)
    cashier.unlock_supervisor(h)
    before = host.balance(WX.code)
    sale = qr_paid(h, 4321)
    cashier.menu(h, "2")
    cashier.supervisor(h)
    h.wait_text("Original trace")
    h.keys(str(sale["trace"]))
    h.enter()
    h.wait_text("Press ENTER to confirm")
    h.enter()
    h.wait_text("Void approved")
    h.wait_idle()
    assert host.balance(WX.code) == before
    assert h.app.state.channel_totals() == {}
