"""Refund (退货): money back for a sale of any batch, usually after the
cardholder has left.

Supervisor password, original reference number (RRN) and date, amount,
card, PIN (a QR payment: no card; the money goes back to the wallet of its
order). Partial refunds are allowed; the sum never passes the original
when the original is in the journal (the host checks every original). The
refund is journaled before it leaves and, without an answer, sent again
with the SAME trace (never a new one) until the host answers: the host
recognises the repeat, so a double ENTER, a timeout or a reboot cannot pay
it twice. "Refund successful" shows only after the host approved.
"""

from firmware import online, pending
from firmware.errors import PosError
from firmware.flows import common
from firmware.terminal import APPROVED, REFUND
from firmware.texts import format_amount

TITLE = "REFUND"


def valid_mmdd(text):
    month, day = int(text[0:2]), int(text[2:4])
    return 1 <= month <= 12 and 1 <= day <= 31


def refundable(state, orig):
    """Fen still refundable on a sale the journal knows, or raise why not."""
    if orig["state"] != APPROVED:
        raise PosError("ORIG_DECLINED")
    if state.voided_by(orig):
        raise PosError("ORIG_VOIDED")
    left = orig["amount"] - state.refunded_total(orig)
    if left <= 0:
        raise PosError("REFUND_EXCEEDS")
    return left


async def run(app):
    common.refuse_if_service_needed(app)
    await common.supervisor(app, TITLE)
    await common.ensure_signed_on(app)
    rrn = await app.ui.ask_digits(TITLE, "ENTER_ORIG_RRN", 12, 12)
    while True:
        date = await app.ui.ask_digits(TITLE, "ENTER_ORIG_DATE", 4, 4)
        if valid_mmdd(date):
            break
    # A refund still unanswered goes first: its answer changes what is left.
    await pending.clear(app)
    state = app.state
    orig = state.find_by_rrn(rrn)
    lines = []
    left = None
    if orig is not None:
        left = refundable(state, orig)
        lines = [("REFUNDABLE", format_amount(left))]
    amount = await app.ui.ask_amount(TITLE, "ENTER_REFUND_AMOUNT", lines=lines)
    if left is not None and amount > left:
        raise PosError("REFUND_EXCEEDS")
    cap = app.settings.refund_max_fen
    if cap and amount > cap:
        raise PosError("REFUND_OVER_CAP", format_amount(cap))
    qr_order = orig.get("order") if orig is not None else None
    card = None
    extra = None
    if qr_order:
        # A QR payment goes back to the wallet it came from: no card.
        fields = online.refund_fields(app, amount, None, None, rrn, date)
        fields.update(online.qr_order_fields(qr_order))
        extra = {"order": qr_order, "channel": orig.get("channel") or ""}
    else:
        card = await common.read_card(app, TITLE, amount, [("AMOUNT", format_amount(amount))], kind=REFUND)
        if orig is not None and not common.same_card(app, card, orig):
            raise PosError("CARD_MISMATCH")
        pin_block = await common.ask_pin(app, TITLE, card, amount)
        await common.generate_cryptogram(app, card, pin_block)
        fields = online.refund_fields(app, amount, card, pin_block, rrn, date)
    orig_ref = {"rrn": rrn, "date": date}
    if orig is not None:
        orig_ref["batch"] = orig["batch"]
        orig_ref["trace"] = orig["trace"]
    txn = await online.authorise(app, REFUND, "0220", fields, amount, card, orig=orig_ref, extra=extra)
    await common.finish(app, TITLE, txn, "REFUND_OK")
