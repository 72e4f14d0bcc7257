"""Receipts that cannot be forged: every slip's verification code belongs to
one real transaction and one copy (original or n-th reprint); the host says
which; an edited amount or trace does not verify."""

import os
import subprocess
import sys

from tests.flows import cashier
from tests.flows.test_settle_reprint import reprint

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def codes(slip):
    """(digits, QR text) printed on a slip."""
    digits = slip[slip.index("验证码 VERIFY CODE:") + 1].replace(" ", "")
    qr = [line[4:-1] for line in slip if line.startswith("[QR:")]
    return digits, (qr[0] if qr else None)


def test_every_slip_has_its_own_code_and_the_host_knows_which_copy_it_is(handset, host):
    h = handset
    cashier.sale(h, 4321, "debit-mag")
    sale = cashier.last_txn(h)
    merchant, cardholder = cashier.receipts_text(h)[-2:]
    (m_code, m_qr), (c_code, _) = codes(merchant), codes(cardholder)
    assert m_code != c_code
    found = host.verify_receipt(m_code)
    assert found["valid"] and (found["trace"], found["amount"], found["rrn"]) == (sale["trace"], 4321, sale["rrn"])
    assert (found["copy"], found["reprint"]) == ("merchant", 0)
    assert host.verify_receipt(c_code)["copy"] == "cardholder"
    assert host.verify_receipt(m_qr)["valid"]

    reprint(h, "1")
    reprint(h, "1")
    first, second = cashier.receipts_text(h)[-2:]
    assert "重打印凭证 REPRINT" in first and "REPRINT NO.2" in "\n".join(second)
    r1, r2 = codes(first)[0], codes(second)[0]
    assert len({m_code, r1, r2}) == 3
    assert host.verify_receipt(r1)["reprint"] == 1
    assert host.verify_receipt(r2)["reprint"] == 2      # "this is the 2nd reprint", provably

    # An edited amount or trace does not verify.
    fields = m_qr.split("|")
    for index, edited in ((5, "%d" % 43210), (3, "%06d" % (sale["trace"] + 1))):
        forged = fields[:index] + [edited] + fields[index + 1:]
        assert not host.verify_receipt("|".join(forged))["valid"]
    assert not host.verify_receipt("000000000000")["valid"]


def test_pos_host_verify_on_the_command_line(handset, host):
    h = handset
    cashier.sale(h, 1500, "debit-mag")
    digits, _ = codes(cashier.receipts_text(h)[-2])
    spaced = [digits[0:4], digits[4:8], digits[8:12]]
    out = subprocess.run([sys.executable, "-m", "emulator.host.cli", "verify"] + spaced
                         + ["--db", host.ledger.db_path], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("VALID") and "merchant copy, original" in out.stdout and "15.00" in out.stdout
    wrong = str((int(digits) + 1) % 10 ** 12).zfill(12)
    out = subprocess.run([sys.executable, "-m", "emulator.host.cli", "verify", wrong, "--db", host.ledger.db_path],
                         cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 1 and out.stdout.startswith("NOT VALID")


def test_a_copy_cut_mid_print_comes_back_as_a_reprint_never_a_second_original(make_handset, host):
    """The merchant copy had started (paper ran out mid-slip) when the power
    went: part of it may be on paper. At boot it prints again marked
    REPRINT, with a reprint code; the cardholder copy, never started, is
    printed as the original."""
    h = make_handset()
    h.call(h.app.devices.printer.paper_runs_out_after, 300)
    h.wait_idle()
    h.keys("2200")
    h.enter()
    h.wait_text("Swipe, insert or tap card")
    h.card("swipe", "debit-mag")
    h.wait_text("Printer out of paper")
    h.power_cut()
    h.start()
    slips = cashier.receipts_text(h)
    assert len(slips) == 2
    merchant, cardholder = slips
    assert "商户存根 MERCHANT COPY" in merchant and "重打印凭证 REPRINT" in merchant
    assert "持卡人存根 CARDHOLDER COPY" in cardholder and "重打印凭证 REPRINT" not in cardholder
    assert host.verify_receipt(codes(merchant)[0])["reprint"] == 1
    assert host.verify_receipt(codes(cardholder)[0])["reprint"] == 0
    h.reboot()
    assert cashier.receipts_text(h) == []            # nothing owed any more
