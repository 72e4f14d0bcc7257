"""Receipts: golden ESC/POS bytes and decoded text for every kind of slip.

Regenerate the golden files after a deliberate layout change with
UPDATE_GOLDEN=1 pytest tests/unit/test_receipt.py, and read the diff.
"""

import os

import pytest

from firmware import escpos, receipt
from firmware.gb2312 import load_table
from firmware.settings import Settings

GOLDEN = os.path.join(os.path.dirname(__file__), "golden")

SALE = {"batch": 1, "trace": 12, "type": "sale", "amount": 12345, "state": "approved",
        "time": "20261122103000", "op": "01", "pan": "622202*********0017", "exp": "3012",
        "mode": "swipe", "rrn": "123456789012", "auth": "654321"}
CHIP_SALE = dict(SALE, trace=13, mode="insert", pan="621700*********0038", exp="3106",
                 aid="A000000333010101", tc="1A2B3C4D5E6F7081")
VOID = dict(SALE, trace=14, type="void", amount=12345, orig={"batch": 1, "trace": 12, "rrn": "123456789012"})
REFUND = dict(SALE, trace=15, type="refund", amount=2500, orig={"rrn": "123456789012", "date": "1122"})
REPORT = {"batch": 1, "time": "20261122230000", "balanced": True,
          "totals": {"sale_amount": 30000, "sale_count": 3, "void_amount": 10000, "void_count": 1,
                     "refund_amount": 2500, "refund_count": 1}}

KINDS = {
    "sale_merchant": lambda s: receipt.txn_lines(s, SALE, receipt.MERCHANT_COPY),
    "sale_cardholder": lambda s: receipt.txn_lines(s, SALE, receipt.CARDHOLDER_COPY),
    "chip_sale_merchant": lambda s: receipt.txn_lines(s, CHIP_SALE, receipt.MERCHANT_COPY),
    "void_merchant": lambda s: receipt.txn_lines(s, VOID, receipt.MERCHANT_COPY),
    "refund_merchant": lambda s: receipt.txn_lines(s, REFUND, receipt.MERCHANT_COPY),
    "sale_reprint": lambda s: receipt.txn_lines(s, SALE, receipt.MERCHANT_COPY, reprint=True),
    "settlement": lambda s: receipt.settlement_lines(s, REPORT),
    "settlement_reprint": lambda s: receipt.settlement_lines(s, REPORT, reprint=True),
    "reversal_slip": lambda s: receipt.reversal_slip_lines(s, SALE),
}


@pytest.fixture(scope="module")
def table():
    return load_table()


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_receipt_matches_golden_bytes_and_text(kind, table):
    data = receipt.to_escpos(KINDS[kind](Settings()), table)
    text = "\n".join(escpos.decode_text(data, table)) + "\n"
    bin_path = os.path.join(GOLDEN, "receipt_%s.bin" % kind)
    txt_path = os.path.join(GOLDEN, "receipt_%s.txt" % kind)
    if os.environ.get("UPDATE_GOLDEN"):
        with open(bin_path, "wb") as f:
            f.write(data)
        with open(txt_path, "w", encoding="utf-8") as f:
            f.write(text)
    with open(txt_path, encoding="utf-8") as f:
        assert text == f.read()
    with open(bin_path, "rb") as f:
        assert data == f.read()


def test_every_row_fits_the_58mm_paper(table):
    for kind, make in KINDS.items():
        for line in escpos.parse(receipt.to_escpos(make(Settings()), table), table):
            limit = escpos.LINE_COLUMNS // line.width if hasattr(line, "width") else escpos.LINE_COLUMNS
            assert escpos.text_columns(line.text) <= limit, (kind, line.text)


def test_refunds_and_voids_show_a_minus_and_the_original(table):
    void = "\n".join(escpos.decode_text(receipt.to_escpos(KINDS["void_merchant"](Settings()), table), table))
    refund = "\n".join(escpos.decode_text(receipt.to_escpos(KINDS["refund_merchant"](Settings()), table), table))
    assert "RMB -123.45" in void and "原凭证号 ORIG VOUCHER:000012" in void
    assert "RMB -25.00" in refund and "原参考号 ORIG REF:123456789012" in refund


def test_receipt_bytes_start_in_chinese_mode(table):
    data = receipt.to_escpos(KINDS["sale_merchant"](Settings()), table)
    assert data.startswith(b"\x1b@\x1c&")


def test_only_the_reprint_says_reprint(table):
    for kind, make in KINDS.items():
        text = "\n".join(escpos.decode_text(receipt.to_escpos(make(Settings()), table), table))
        assert ("重打印凭证 REPRINT" in text) == kind.endswith("reprint"), kind
