"""Receipts: golden ESC/POS bytes and decoded text for every kind of slip.

Regenerate the golden files after a deliberate layout change with
UPDATE_GOLDEN=1 pytest tests/unit/test_receipt.py, and read the diff.
"""

import os

import pytest

import sys

from firmware import escpos, receipt
from hal import crypto
from tests.support import micropython_path, run_script
from firmware import fees
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
                     "refund_amount": 2500, "refund_count": 1},
          "channels": {"wechat": {"amount": 1234, "count": 1}, "alipay": {"amount": 5000, "count": 2}},
          "fees": fees.totals([("debit", 20000), ("debit", 10000), ("debit", -2500), ("qr", 1234),
                               ("qr", 2000), ("qr", 3000)],
                              {"debit": (50, 2000), "credit": (60, None), "qr": (38, None)})}

MASTER_KEY = bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")   # the test master key


def slip(settings, txn, copy, reprint_no=0, with_qr=True):
    """A transaction slip as the app prints it: with its verification code."""
    code = receipt.code_from_mac(crypto.receipt_mac(
        MASTER_KEY, receipt.txn_verification_data(settings, txn, copy, reprint_no)))
    return receipt.txn_lines(settings, txn, copy, reprint_no > 0, code, reprint_no, with_qr)


KINDS = {
    "sale_merchant": lambda s: slip(s, SALE, receipt.MERCHANT_COPY),
    "sale_cardholder": lambda s: slip(s, SALE, receipt.CARDHOLDER_COPY, with_qr=False),
    "chip_sale_merchant": lambda s: slip(s, CHIP_SALE, receipt.MERCHANT_COPY),
    "void_merchant": lambda s: slip(s, VOID, receipt.MERCHANT_COPY),
    "refund_merchant": lambda s: slip(s, REFUND, receipt.MERCHANT_COPY),
    "sale_reprint": lambda s: slip(s, SALE, receipt.MERCHANT_COPY, reprint_no=2),
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
            if line.qr is not None:
                continue  # a QR code is an image, sized by its module width
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


def test_the_code_is_a_mac_over_what_makes_the_slip_this_slip():
    """Change the amount, the trace, the copy or the reprint number and
    the code changes: an edited slip does not carry a valid code."""
    settings = Settings()

    def code(txn, copy=receipt.MERCHANT_COPY, number=0, key=MASTER_KEY):
        return receipt.code_from_mac(crypto.receipt_mac(key, receipt.txn_verification_data(settings, txn, copy,
                                                                                            number)))
    first = code(SALE)
    assert len(first) == 12 and first.isdigit()
    assert code(dict(SALE, amount=SALE["amount"] + 100)) != first
    assert code(dict(SALE, trace=SALE["trace"] + 1)) != first
    assert code(dict(SALE, rrn="123456789013")) != first
    assert code(SALE, receipt.CARDHOLDER_COPY) != first
    assert code(SALE, number=1) != first and code(SALE, number=1) != code(SALE, number=2)
    assert code(SALE, key=bytes(16)) != first


def test_the_qr_code_holds_the_verification_data_and_the_code(table):
    import segno  # test oracle: the data fits a QR code a phone can read
    lines = receipt.to_escpos(KINDS["sale_merchant"](Settings()), table)
    (qr,) = [line.qr for line in escpos.parse(lines, table) if line.qr is not None]
    text = qr.decode()
    fields = text.split("|")
    assert fields[:10] == ["V1", "10000001", "000001", "000012", "123456789012", "12345", "1122", "sale",
                           "merchant", "0"]
    assert len(fields[10]) == 12
    assert segno.make(text, error="m").version <= 6


CODE_SCRIPT = """
import sys
sys.path.insert(0, '')
from firmware import receipt
from hal import crypto
key = bytes.fromhex('0123456789ABCDEFFEDCBA9876543210')
for copy, number in (('merchant', 0), ('cardholder', 0), ('merchant', 3)):
    data = receipt.verification_data('10000001', 1, 12, '123456789012', 12345, '1122', 'sale', copy, number)
    print(receipt.code_from_mac(crypto.receipt_mac(key, data)))
"""


@pytest.mark.skipif(micropython_path() is None, reason="no micropython interpreter")
def test_receipt_codes_are_the_same_under_micropython():
    """The handset (MicroPython) and the host (CPython) compute one code."""
    assert run_script(micropython_path(), CODE_SCRIPT) == run_script(sys.executable, CODE_SCRIPT)
