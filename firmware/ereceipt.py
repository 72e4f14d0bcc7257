"""Paper and the electronic receipt (电子签购单), setting `paper`:

    normal         both copies print (receipt_copies), as always;
    merchant_only  only the merchant's copy prints; the cardholder scans a QR
                   code on the screen for the receipt;
    none           nothing prints (a handset without a printer): the QR code
                   on the screen is the cardholder's receipt, the acquirer
                   keeps the merchant's (the e-signature upload).

The QR code links to the acquirer's receipt page (docs/ESIGN.md):

    <ereceipt_url>?t=<terminal id>&r=<RRN>&c=<receipt code, 12 digits>

The code is the cardholder copy's verification code (firmware/receipt.py,
original: reprint 0), the one a printed cardholder copy would carry, so
the host recomputes it from its own books (pos-host verify) and a link
with another RRN does not open anyone's receipt. A reprint shows the same
link, marked as a copy on the screen: the page is the host's record, the
terminal makes no new slip.
"""

from firmware import receipt
from firmware.texts import format_amount

NORMAL = "normal"
MERCHANT_ONLY = "merchant_only"
NONE = "none"


def paper_copies(settings):
    """The copies of a transaction's receipt that print on paper."""
    if settings.paper == NONE:
        return ()
    if settings.paper == MERCHANT_ONLY:
        return (receipt.MERCHANT_COPY,)
    return (receipt.MERCHANT_COPY, receipt.CARDHOLDER_COPY)[:settings.receipt_copies]


def prints(settings):
    """Does this handset print at all (merchant slips: reports, notes)?"""
    return settings.paper != NONE


def offered(settings):
    """Is the cardholder offered the QR e-receipt after a transaction?"""
    return settings.paper != NORMAL


def receipt_code(settings, keystore, txn):
    """The e-receipt's code: the cardholder copy's, original."""
    return receipt.code_from_mac(keystore.receipt_mac(
        receipt.txn_verification_data(settings, txn, receipt.CARDHOLDER_COPY, 0)))


def link(settings, txn, code):
    """The URL the QR code holds."""
    base = settings.ereceipt_url
    return "%s%st=%s&r=%s&c=%s" % (base, "&" if "?" in base else "?", settings.terminal_id, txn.get("rrn", ""),
                                   code)


async def show(app, title, txn, lines, copy=False):
    """The QR code for the cardholder's phone under `lines` (the outcome),
    the amount and the trace; until a key or the ui timeout. `copy`: a
    reprint, marked as such."""
    shown = list(lines)
    if copy:
        shown.append("COPY_SHOWN")
    shown += [("AMOUNT", format_amount(txn["amount"])), ("TRACE_NO", "%06d" % txn["trace"]), "ERECEIPT_SCAN"]
    url = link(app.settings, txn, receipt_code(app.settings, app.devices.keystore, txn))
    await app.ui.code_message(title, shown, url, tone=None if copy else "ok")
