"""Reprint (重打印): the last receipt, any receipt of the current batch by
trace number, or the last settlement report. Works offline. Every reprint
carries 重打印凭证 REPRINT so it cannot pass for an original. A handset that
does not print (setting paper none) shows them instead: a receipt as its
QR e-receipt marked as a copy, the settlement report's totals."""

from firmware import ereceipt, receipt
from firmware.errors import PosError
from firmware.settlement import report_lines

TITLE = "REPRINT"


async def run(app):
    choice = await app.ui.choose(TITLE, ["REPRINT_LAST", "REPRINT_ANY", "REPRINT_SETTLE"])
    state = app.state
    if choice == 0:
        txn = state.last_txn()
        if txn is None:
            raise PosError("NOTHING_TO_PRINT")
    elif choice == 1:
        trace = int(await app.ui.ask_digits(TITLE, "ENTER_ORIG_TRACE", 1, 6))
        txn = state.find_in_batch(trace)
        if txn is None or txn["state"] != "approved":
            raise PosError("TRACE_NOT_FOUND")
    else:
        if state.last_settlement is None:
            raise PosError("NOTHING_TO_PRINT")
        if not ereceipt.prints(app.settings):
            await app.ui.message(TITLE, ["COPY_SHOWN"] + report_lines(state.last_settlement),
                                 app.settings.ui_timeout_ms)
            return
        await app.print_slip(receipt.settlement_lines(app.settings, state.last_settlement, reprint=True), TITLE)
        return
    if not ereceipt.prints(app.settings):
        await ereceipt.show(app, TITLE, txn, [], copy=True)
        return
    # A reprint is the merchant's copy: the cardholder already has theirs.
    await app.print_receipts(txn, reprint=True, copies=1)
