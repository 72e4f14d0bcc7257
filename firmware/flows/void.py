"""Void (消费撤销): cancel a sale of the current batch, usually while the
cardholder is still at the counter.

Supervisor password, original trace, the original shown for confirmation,
card (and PIN) as settings, 0200/200000 with the original's F37/F38/F61,
the original marked voided once the host approves. Pending reversals go
first, so a sale whose outcome was unknown is reversed (and then refused
here) rather than voided.
"""

from firmware import online, pending
from firmware.errors import PosError
from firmware.flows import common
from firmware.terminal import APPROVED, DECLINED, NOT_SENT, REVERSED, SALE, VOID
from firmware.texts import format_amount

TITLE = "VOID"


def check_voidable(state, trace):
    """-> the original sale, or raise PosError with the reason it cannot be voided."""
    orig = state.find_in_batch(trace)
    if orig is not None and orig["batch"] in state.settled_batches:
        orig = None  # a settled batch is closed to voids: refund instead
    if orig is None:
        raise PosError("ORIG_OTHER_BATCH" if state.find_trace_any_batch(trace) else "TRACE_NOT_FOUND")
    if orig["type"] != SALE:
        raise PosError("ORIG_NOT_SALE")
    if orig["state"] == REVERSED:
        raise PosError("ORIG_REVERSED")
    if orig["state"] in (DECLINED, NOT_SENT):
        raise PosError("ORIG_DECLINED")
    if orig["state"] != APPROVED:
        raise PosError("ORIG_PENDING")
    if state.voided_by(orig) or state.pending_children(orig, VOID):
        raise PosError("ORIG_VOIDED")
    if state.refunded_total(orig) or state.pending_children(orig, "refund"):
        raise PosError("ORIG_REFUNDED")
    return orig


async def run(app):
    common.refuse_if_service_needed(app)
    await common.supervisor(app, TITLE)
    await common.ensure_signed_on(app)
    trace = int(await app.ui.ask_digits(TITLE, "ENTER_ORIG_TRACE", 1, 6))
    await pending.clear(app)
    orig = check_voidable(app.state, trace)
    amount = orig["amount"]
    summary = [("CARD_NO", orig.get("pan", "")), ("AMOUNT", format_amount(amount)),
               ("TRACE_NO", "%06d" % orig["trace"]), ("TIME", orig["time"][4:8] + " " + orig["time"][8:12])]
    await app.ui.confirm(TITLE, summary)
    card = None
    pin_block = None
    qr_order = orig.get("order")       # a QR payment: no card to read, the order is voided
    if app.settings.void_needs_card and not qr_order:
        card = await common.read_card(app, TITLE, amount, summary, kind=VOID)
        if not common.same_card(app, card, orig):
            raise PosError("CARD_MISMATCH")
        if app.settings.void_needs_pin:
            pin_block = await common.ask_pin(app, TITLE, card, amount)
        await common.generate_cryptogram(app, card, pin_block)
    fields = online.void_fields(app, orig, card, pin_block)
    # Without a card read, the receipt shows the original's (masked) card.
    extra = None if card is not None else {"pan": orig.get("pan"), "exp": orig.get("exp"),
                                           "mode": orig.get("mode"), "pan_sealed": orig.get("pan_sealed")}
    if qr_order:
        fields.update(online.qr_order_fields(qr_order))
        extra = {"order": qr_order, "channel": orig.get("channel") or ""}
    txn = await online.authorise(app, VOID, "0200", fields, amount, card,
                                 orig={"batch": orig["batch"], "trace": orig["trace"], "rrn": orig.get("rrn")},
                                 extra=extra)
    await common.complete_chip(app, txn, card)
    await common.finish(app, TITLE, txn, "VOID_OK")
