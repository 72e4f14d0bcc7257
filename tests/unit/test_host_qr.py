"""QR payments at the acquirer host simulator, over TCP with the protocol-
level test terminal: B2C paid at once, waiting for the customer, declined;
C2B codes; order queries; reversal closing or undoing an order; refunds by
order number; QR kept out of the card totals that settlement compares."""

import pytest

from firmware import iso8583, qrpay
from hal.sim.deck import find_card, find_payment_code
from tests.unit.test_host_terminal import Terminal

WX = find_payment_code("wx-pay")
CONFIRM = find_payment_code("ali-confirm")


@pytest.fixture
def term(host):
    t = Terminal(host.port)
    assert t.sign_on()[1][39] == "00"
    return t


def qr_sale_fields(term, amount, code=None, trace=None):
    fields = term.base("000000", amount, trace)
    fields[22] = "030"
    fields[25] = "00"
    fields[49] = "156"
    items = [("A2", qrpay.device_info("SN0001", "1.0"))]
    items.append(("A3", code) if code else ("A8", "1"))
    fields[59] = qrpay.field59(items)
    fields[60] = iso8583.field60("22", term.batch, "000")
    return fields


def qr_sale(term, amount, code=None):
    mti, reply = term.exchange("0200", qr_sale_fields(term, amount, code))
    return reply, qrpay.parse_field59(reply.get(59, ""))


def query(term, order_no):
    fields = term.base("330000", 0)
    fields[59] = qrpay.field59([("A4", order_no)])
    fields[60] = iso8583.field60("22", term.batch, "000")
    mti, reply = term.exchange("0200", fields)
    return reply, qrpay.parse_field59(reply.get(59, ""))


def refund_by_order(term, order_no, amount):
    fields = term.base("200000", amount)
    fields[25] = "00"
    fields[49] = "156"
    fields[59] = qrpay.field59([("A4", order_no)])
    fields[60] = iso8583.field60("25", term.batch, "000")
    fields[61] = "000000000000"
    return term.exchange("0220", fields)[1]


def reverse(term, fields):
    rev = dict(term.last_request[1]) if fields is None else dict(fields)
    rev.pop(64, None)
    rev[39] = "98"
    return term.exchange("0400", rev)[1]


def test_b2c_paid_at_once(host, term):
    before = host.balance(WX.code)
    reply, f59 = qr_sale(term, 1234, WX.code)
    assert reply[39] == "00" and 38 in reply and len(reply[37]) == 12
    assert f59["A5"] == "PAID" and f59["A1"] == qrpay.WECHAT and f59["A4"].startswith("WX")
    assert host.balance(WX.code) == before - 1234


def test_b2c_waits_for_the_customer_then_paid(host, term):
    before = host.balance(CONFIRM.code)
    reply, f59 = qr_sale(term, 5000, CONFIRM.code)
    assert reply[39] == "09" and 38 not in reply and f59["A5"] == "WAITING"
    order = f59["A4"]
    assert query(term, order)[1]["A5"] == "WAITING"
    assert host.balance(CONFIRM.code) == before            # nothing taken while waiting
    assert host.acquirer.qr.customer_pays(order) == "PAID"
    reply, f59 = query(term, order)
    assert reply[39] == "00" and f59["A5"] == "PAID" and 38 in reply
    assert host.balance(CONFIRM.code) == before - 5000
    assert host.acquirer.qr.customer_pays(order) == "PAID"  # a second confirmation takes nothing
    assert host.balance(CONFIRM.code) == before - 5000


def test_reversal_of_a_waiting_order_closes_it_unpaid(host, term):
    before = host.balance(CONFIRM.code)
    fields = qr_sale_fields(term, 700, CONFIRM.code)
    reply = term.exchange("0200", fields)[1]
    order = qrpay.parse_field59(reply[59])["A4"]
    assert reverse(term, fields)[39] == "00"
    assert query(term, order)[1]["A5"] == "CLOSED"
    assert host.acquirer.qr.customer_pays(order) == "CLOSED"   # too late: nothing taken
    assert host.balance(CONFIRM.code) == before


def test_reversal_of_a_paid_order_gives_the_money_back(host, term):
    before = host.balance(WX.code)
    fields = qr_sale_fields(term, 900, WX.code)
    assert term.exchange("0200", fields)[1][39] == "00"
    assert reverse(term, fields)[39] == "00"
    assert host.balance(WX.code) == before


@pytest.mark.parametrize("name, amount, code", [("ali-refuse", 100, "51"), ("wx-low", 1001, "51")])
def test_wallets_that_refuse(host, term, name, amount, code):
    payment = find_payment_code(name)
    before = host.balance(payment.code)
    reply, f59 = qr_sale(term, amount, payment.code)
    assert reply[39] == code and 38 not in reply
    assert host.balance(payment.code) == before


def test_a_code_no_wallet_knows_is_invalid(host, term):
    reply, _ = qr_sale(term, 100, "139999999999999999")
    assert reply[39] == "14"


def test_c2b_code_paid_by_the_customers_wallet(host, term):
    before = host.balance(WX.code)
    reply, f59 = qr_sale(term, 2500)
    assert reply[39] == "09" and f59["A6"].startswith("https://") and f59["A5"] == "WAITING"
    order = f59["A4"]
    assert host.acquirer.qr.customer_pays(order, WX.code) == "PAID"
    reply, f59 = query(term, order)
    assert f59["A5"] == "PAID" and f59["A1"] == qrpay.WECHAT
    assert host.balance(WX.code) == before - 2500


def test_refund_by_order_number_partial_and_over(host, term):
    before = host.balance(WX.code)
    reply, f59 = qr_sale(term, 10000, WX.code)
    order = f59["A4"]
    assert refund_by_order(term, order, 3000)[39] == "00"
    assert refund_by_order(term, order, 7000)[39] == "00"
    assert refund_by_order(term, order, 1)[39] == "61"
    assert host.balance(WX.code) == before
    assert refund_by_order(term, "WX00000000000000", 1)[39] == "25"


def test_qr_payments_stay_out_of_the_card_totals(host, term):
    card = find_card("debit-mag")
    assert term.sale(card, 1000)[1][39] == "00"
    qr_sale(term, 2000, WX.code)
    assert host.ledger.batch_totals(term.tid, term.batch) == (1000, 1, 0, 0)


def test_query_of_another_terminals_order_is_not_found(host, term):
    reply, f59 = qr_sale(term, 100, WX.code)
    other = Terminal(host.port, tid="10000002")
    other.sign_on()
    assert query(other, f59["A4"])[0][39] == "25"
