"""Sale (消费): amount, card, PIN, online authorisation, two receipts."""

from firmware import online
from firmware.flows import common
from firmware.terminal import SALE
from firmware.texts import format_amount

TITLE = "SALE"


async def run(app, card_event=None, first_digit=""):
    """`card_event`: a card presented at the idle screen; `first_digit`: the
    key that started the sale from the idle screen."""
    common.refuse_if_service_needed(app)
    common.refuse_if_service_expired(app)
    await common.ensure_signed_on(app)
    amount = await app.ui.ask_amount(TITLE, max_fen=app.settings.sale_max_fen, digits=first_digit or "")
    lines = [("AMOUNT", format_amount(amount))]
    card = await common.read_card(app, TITLE, amount, lines, card_event)
    pin_block = await common.ask_pin(app, TITLE, card, amount)
    await common.generate_cryptogram(app, card, pin_block)
    fields = online.sale_fields(app, amount, card, pin_block)
    cvm = common.quick_pass(app, card, amount, pin_block is not None)
    txn = await online.authorise(app, SALE, "0200", fields, amount, card, extra={"cvm": cvm} if cvm else None)
    await common.complete_chip(app, txn, card)
    await common.finish(app, TITLE, txn, "SALE_OK")
