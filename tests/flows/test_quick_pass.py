"""小额双免 (UnionPay QuickPass): a contactless sale at or below 1000.00
yuan asks no PIN and needs no signature; one fen above, the card's own
CVM applies (online PIN); an inserted card always follows its CVM list.
The card used demands a PIN in its CVM list (chip-pin, PIN 888888)."""

import pytest

from tests.flows import cashier

LIMIT = 100000   # 1000.00 yuan, the default of both limits


def tap_sale(h, amount, pin=None, action="tap"):
    cashier.sale(h, amount, "chip-pin", action=action, pin=pin)
    return cashier.last_txn(h)


@pytest.mark.parametrize("amount", [LIMIT - 1, LIMIT])
def test_tap_at_or_below_the_limit_asks_no_pin_and_no_signature(handset, amount):
    h = handset
    txn = tap_sale(h, amount)
    assert txn["status"] == "approved"
    merchant = "\n".join(cashier.receipts_text(h)[-2])
    assert "免密免签 NO PIN, NO SIGNATURE" in merchant
    assert "CARDHOLDER SIGNATURE" not in merchant
    assert not [lines for _, _, lines in h.app.devices.display.recent if "enter PIN" in " ".join(lines)]


def test_one_fen_above_the_limit_the_card_asks_its_pin(handset):
    h = handset
    txn = tap_sale(h, LIMIT + 1, pin="888888")
    assert txn["status"] == "approved"
    merchant = "\n".join(cashier.receipts_text(h)[-2])
    assert "免密" not in merchant and "CARDHOLDER SIGNATURE" in merchant


def test_an_inserted_card_follows_its_cvm_list_under_the_limit(handset):
    h = handset
    txn = tap_sale(h, LIMIT - 1, pin="888888", action="insert")
    assert txn["status"] == "approved"
    assert "免密" not in "\n".join(cashier.receipts_text(h)[-2])


def test_limits_are_settings(make_handset):
    h = make_handset(qps_no_pin_limit_fen=5000, qps_no_signature_limit_fen=10000)
    txn = tap_sale(h, 6000, pin="888888")          # above no-PIN, below no-signature
    merchant = "\n".join(cashier.receipts_text(h)[-2])
    assert txn["status"] == "approved" and "免签 NO SIGNATURE" in merchant
    assert "CARDHOLDER SIGNATURE" not in merchant
