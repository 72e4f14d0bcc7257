"""QR payment (扫码收款): the cashier scans the customer's payment code
(B2C), or shows a code for the customer to scan (C2B); then the money is
the host's answer, or, while the customer confirms on the phone, the
answer to our queries every few seconds until the time limit, when the
order is cancelled (reversed) and the customer is not charged."""

from firmware import online, pending, qrpay
from firmware.errors import Cancelled, PosError, TimedOut
from firmware.flows import common
from firmware.terminal import SALE, WAITING
from firmware.texts import format_amount

TITLE = "QR_PAY"
SCAN, SHOW = 0, 1


async def run(app):
    common.refuse_if_service_needed(app)
    common.refuse_if_service_expired(app)
    await common.ensure_signed_on(app)
    how = await app.ui.choose(TITLE, ["QR_MENU_SCAN", "QR_MENU_SHOW"])
    amount = await app.ui.ask_amount(TITLE, max_fen=app.settings.sale_max_fen)
    lines = [("AMOUNT", format_amount(amount))]
    if how == SCAN:
        code = await app.ui.wait_scan(TITLE, lines)
        try:
            channel = qrpay.channel_of(code)
        except qrpay.QrPayError as e:
            raise PosError(e.code)
        txn = await online.authorise(app, SALE, "0200", online.qr_sale_fields(app, amount, code), amount,
                                     extra={"channel": channel}, waiting_ok=True)
    else:
        txn = await online.authorise(app, SALE, "0200", online.qr_sale_fields(app, amount), amount,
                                     waiting_ok=True)
    if txn["state"] == WAITING:
        txn = await wait_for_customer(app, txn, lines, show=how == SHOW)
    await common.finish(app, TITLE, txn, "QR_PAID")


async def wait_for_customer(app, txn, lines, show):
    """Poll the order every qr_poll_ms until it is paid or closed; past
    qr_wait_ms, or at CANCEL, give up: the order is reversed (closed
    unpaid). -> the approved txn, or PosError."""
    settings = app.settings
    waited = 0
    while waited < settings.qr_wait_ms:
        screen = lines + [("QR_WAITING", (settings.qr_wait_ms - waited) // 1000)]
        if show:
            app.ui.show_code(TITLE, screen + ["QR_SHOW_HINT"], txn["code_text"])
        else:
            app.ui.show(TITLE, screen, "QR_CANCEL_HINT")
        try:
            await app.ui.wait_key((), settings.qr_poll_ms)   # only CANCEL ends the wait early
        except TimedOut:
            waited += settings.qr_poll_ms
        except Cancelled:
            break
        try:
            status, reply = await online.query_order(app, txn)
        except PosError as e:                       # no answer to a query: ask again next time
            app.log("QR order query: %s", e.code)
            continue
        if status == online.QR_PAID:
            return online.record_qr_outcome(app, txn, status, reply)
        if status in ("CLOSED", "FAILED"):
            online.record_qr_outcome(app, txn, status, reply)
            raise PosError("QR_CLOSED")
    online.give_up_waiting(app, txn)
    try:
        await pending.send_reversals(app)
    except PosError:
        raise PosError("QR_CANCEL_PENDING")   # reversed before the next transaction
    raise PosError("QR_CANCELLED")
