"""Receipt verification: does a slip's code belong to a real transaction,
and which copy is it?

Every slip the terminal prints carries a code: HMAC-SHA256 under the
receipt key (hal/crypto.receipt_key: derived from the terminal master key,
which the host holds) over the slip's verification data
(firmware/receipt.verification_data: terminal, batch, trace, RRN, amount,
host date, type, copy, reprint number), cut to 12 digits. The host
recomputes it from its own books, so a slip whose amount or trace was
edited, or a copy passed off as another, finds no match.

    verify_code(ledger, master_key, "183781510621")     # the digits alone: searched
    verify_text(ledger, master_key, "V1|...|183781510621")   # the QR code's text
"""

import hashlib
import hmac

from firmware import receipt
from hal import crypto

COPIES = (receipt.MERCHANT_COPY, receipt.CARDHOLDER_COPY)
# Reprint numbers searched for a code given alone (a QR code names its own).
MAX_REPRINTS = 20


def _code(key, row, copy, number):
    data = receipt.verification_data(row["tid"], row["batch"], row["trace"], row["rrn"], row["amount"],
                                     row["host_date"], row["kind"], copy, number)
    # The stdlib's HMAC here, the terminal's own in hal/crypto: two
    # implementations that must agree (tests/flows/test_receipt_codes.py).
    return receipt.code_from_mac(hmac.new(key, data, hashlib.sha256).digest())


def _found(row, copy, number):
    return {"valid": True, "tid": row["tid"], "batch": row["batch"], "trace": row["trace"], "rrn": row["rrn"],
            "amount": row["amount"], "kind": row["kind"], "date": row["host_date"], "status": row["status"],
            "copy": copy, "reprint": number}


def _slips(ledger):
    """Transactions a slip was printed for: approved ones (a later void or
    reversal changes their status, not their slip)."""
    return [row for row in ledger.transactions() if row["response_code"] == "00" and row["rrn"]]


def verify_code(ledger, master_key, code, max_reprints=MAX_REPRINTS):
    """-> dict: valid, and for a valid code the transaction and which copy
    (merchant/cardholder, reprint number: 0 the original)."""
    code = "".join(ch for ch in str(code) if ch.isdigit())
    if len(code) != receipt.CODE_DIGITS:
        return {"valid": False, "why": "a code has %d digits" % receipt.CODE_DIGITS}
    key = crypto.receipt_key(master_key)
    for row in _slips(ledger):
        for number in range(max_reprints + 1):
            for copy in COPIES:
                if _code(key, row, copy, number) == code:
                    return _found(row, copy, number)
    return {"valid": False, "why": "no transaction of this host has a slip with this code"}


def verify_for(master_key, row, code, max_reprints=MAX_REPRINTS):
    """Is `code` (12 digits) the code of one of the slips of this
    transaction (a ledger row)? -> the found dict, or None."""
    key = crypto.receipt_key(master_key)
    for number in range(max_reprints + 1):
        for copy in COPIES:
            if hmac.compare_digest(_code(key, row, copy, number), code):
                return _found(row, copy, number)
    return None


def verify_text(ledger, master_key, text):
    """The QR code's text: the verification data and the code. Valid only
    if the code is the MAC of that data AND the host booked that
    transaction with that RRN, amount and date."""
    parts = text.strip().split("|")
    if len(parts) != 11 or parts[0] != receipt.VERIFY_VERSION:
        return {"valid": False, "why": "not a receipt verification code"}
    _v, tid, batch, trace, rrn, amount, date, kind, copy, number, code = parts
    if not (batch.isdigit() and trace.isdigit() and amount.isdigit() and number.isdigit()):
        return {"valid": False, "why": "not a receipt verification code"}
    key = crypto.receipt_key(master_key)
    row = {"tid": tid, "batch": int(batch), "trace": int(trace), "rrn": rrn, "amount": int(amount),
           "host_date": date, "kind": kind}
    if copy not in COPIES or _code(key, row, copy, int(number)) != code:
        return {"valid": False, "why": "the code does not match the slip's data (edited?)"}
    for booked in _slips(ledger):
        if (booked["tid"], booked["batch"], booked["trace"], booked["kind"]) == (tid, int(batch), int(trace), kind):
            if (booked["rrn"], booked["amount"], booked["host_date"]) != (rrn, int(amount), date):
                return {"valid": False, "why": "the host booked this transaction differently"}
            return _found(booked, copy, int(number))
    return {"valid": False, "why": "the host has no such transaction"}


def verify(ledger, master_key, code_or_text):
    if "|" in code_or_text:
        return verify_text(ledger, master_key, code_or_text)
    return verify_code(ledger, master_key, code_or_text)


def describe(result):
    """One line for people."""
    if not result["valid"]:
        return "NOT VALID: %s" % result["why"]
    which = "original" if result["reprint"] == 0 else "reprint no. %d" % result["reprint"]
    return ("VALID: terminal %s batch %06d trace %06d RRN %s %s %d.%02d (date %s, now %s): %s copy, %s"
            % (result["tid"], result["batch"], result["trace"], result["rrn"], result["kind"],
               result["amount"] // 100, result["amount"] % 100, result["date"], result["status"],
               result["copy"], which))
