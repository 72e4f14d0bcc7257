"""Steps several flows share: signing on when needed, the supervisor's
password, reading a card, the cardholder's PIN, the result screen."""

from hal.compat import hexlify
from hal.errors import CardError, DeviceError
from firmware import card as cards
from firmware import ereceipt
from firmware import pending, signatures
from firmware.errors import PosError
from firmware.operators import SUPERVISOR, password_length
from firmware.terminal import APPROVED, REFUND, SALE, VOID
from firmware.texts import format_amount

CARD_TRIES = 3


def refuse_if_service_needed(app):
    """No new transaction while the terminal needs service (a damaged
    journal...): what it already holds can still be settled and reprinted."""
    if app.service_problems:
        raise PosError("SERVICE_NEEDED")


def refuse_if_service_expired(app):
    """After the service term (firmware/renewal.py) no new sale; money can
    still go back (refund, void) and the day can be closed."""
    if app.service_term.expired(app.devices.clock.now()):
        from firmware.renewal import shown
        raise PosError("SERVICE_EXPIRED_SALE", shown(app.service_term.expires))


async def ensure_signed_on(app):
    if not app.signed_on:
        from firmware.flows import signon
        await signon.run(app, quiet=True)


async def supervisor(app, title):
    """The supervisor password; a factory password must be changed first.
    -> True if that forced change just happened."""
    app.operators.refuse_if_closed(SUPERVISOR)   # before asking: locked means not even tried
    password = await app.ui.ask_digits(title, "ENTER_SUPERVISOR_PW", 6, 6, secret=True)
    return await password_checked(app, title, SUPERVISOR, password)


async def password_checked(app, title, operator_id, password):
    """Check a password; a factory one is changed at once (its first use
    is its last). -> True if that forced change just happened."""
    app.operators.check(operator_id, password)
    if app.operators.is_factory(operator_id):
        await app.ui.message(title, ["MUST_CHANGE_PW"])
        await change_password(app, title, operator_id)
        return True
    return False


async def change_password(app, title, operator_id):
    length = password_length(operator_id)
    first = await app.ui.ask_digits(title, "ENTER_NEW_PW", length, length, secret=True)
    app.operators.refuse_weak(operator_id, first)   # said at once, not after typing it twice
    second = await app.ui.ask_digits(title, "ENTER_NEW_PW_AGAIN", length, length, secret=True)
    if first != second:
        raise PosError("PW_MISMATCH")
    app.operators.change(operator_id, first)
    app.log("password of operator %s changed", operator_id)
    await app.ui.message(title, ["PW_CHANGED"])


async def read_card(app, title, amount, lines, event=None, contactless_ok=True, kind="sale"):
    """Wait for a card and read it; a bad read asks again (up to 3 times),
    a chip card swiped is asked to be inserted. `kind` (sale, void, refund)
    gives a chip its transaction type (9C). -> CardData"""
    chip_failed = False
    for _ in range(CARD_TRIES):
        if event is None:
            event = await app.ui.wait_card(title, lines)
        try:
            card = await _read(app, event, amount, chip_failed, kind)
        except PosError as e:
            if e.code in cards.FALLBACK_CODES:
                chip_failed = True
            if e.code in ("CARD_EXPIRED", "BAD_LUHN"):
                raise
            await app.ui.error(title, e)
            event = None
            continue
        return card
    raise PosError("CARD_READ")


async def _read(app, event, amount, chip_failed, kind):
    if event.error:
        raise PosError(event.error if event.error in ("NO_CHIP", "NOT_CONTACTLESS") else "CARD_READ")
    try:
        if event.action == "swipe":
            card = cards.parse_track2(event.track2)
            if cards.service_code_requires_chip(card):
                if not (chip_failed and app.settings.allow_fallback):
                    raise PosError("USE_CHIP")
                card.fallback = True
        else:
            # The application only: the first cryptogram waits for the PIN
            # (generate_cryptogram) so the card knows a PIN was entered.
            # 9F41 is the trace the request will carry (online.authorise
            # sets it again should another message take that trace first).
            # A tap tells the card whether the terminal needs a CVM (TTQ):
            # not for a QuickPass sale at or below the no-PIN limit.
            card = await cards.read_chip_application(app.devices.card_reader, amount,
                                                     app.devices.clock.now(),
                                                     contactless=event.action == "tap",
                                                     sequence_counter=app.state.next_trace(),
                                                     transaction_type=cards.TRANSACTION_TYPES[kind],
                                                     cvm_required=not (kind == "sale" and
                                                                       within_no_pin_limit(app, amount)))
        cards.check_expiry(card, app.devices.clock.now())
        return card
    except cards.CardDataError as e:
        raise PosError(e.code)
    except CardError:
        raise PosError("CHIP_ERROR")


def within_no_pin_limit(app, amount):
    return amount <= app.settings.qps_no_pin_limit_fen


def quick_pass(app, card, amount, pin_entered):
    """小额双免 (UnionPay QuickPass, since 2018-06-01): what a contactless
    sale waived. -> the journal's "cvm" note: "no_pin_no_signature",
    "no_signature", "no_pin", or None (nothing waived).

    No PIN: at or below the no-PIN limit, unless the card demanded its PIN
    anyway (9F6C: its demand beats the limit, so `pin_entered` then). No
    signature: at or below the no-signature limit. The two limits are
    apart (settings, or the acquirer's parameter download). An inserted or
    swiped card is never QuickPass: its own CVM applies."""
    if card is None or card.entry_mode != "tap":
        return None
    no_pin = within_no_pin_limit(app, amount) and not pin_entered
    no_signature = amount <= app.settings.qps_no_signature_limit_fen
    if no_pin and no_signature:
        return "no_pin_no_signature"
    if no_signature:
        return "no_signature"
    if no_pin:
        return "no_pin"
    return None


async def ask_pin(app, title, card, amount):
    """The cardholder's PIN as an encrypted block, or None when the card
    needs none. A QuickPass tap at or below the no-PIN limit told the card
    no CVM was required (read_card), so only a card whose issuer demands
    the PIN at every amount asks for it there. The clear PIN lives only in
    this call."""
    if not cards.pin_required(card):
        return None
    lines = [("AMOUNT", format_amount(amount))]
    pin = await app.ui.ask_digits(title, "ENTER_PIN", 4, 12, secret=True, lines=lines)
    return app.devices.keystore.pin_block(pin, card.pan)


async def generate_cryptogram(app, card, pin_block):
    """Chip cards: the first GENERATE AC (ARQC) and field 55, after the PIN."""
    if card.entry_mode == "swipe":
        return
    try:
        await cards.generate_arqc(app.devices.card_reader, card, pin_block is not None)
    except cards.CardDataError as e:
        raise PosError(e.code)
    except CardError:
        raise PosError("CHIP_ERROR")


async def complete_chip(app, txn, card):
    """Give the host's approval to a contact chip (second GENERATE AC). A
    card that declines now, or is pulled out, had its money taken by the
    host: the transaction is reversed at once (reason 06 / 96)."""
    if card is None or card.entry_mode != "insert":
        return
    reason = None
    try:
        if await cards.complete_chip(app.devices.card_reader, card, "00"):
            if card.tc:
                app.state.record("chip", batch=txn["batch"], trace=txn["trace"], tc=hexlify(card.tc))
            return
        reason, code = "06", "CHIP_DECLINED"
    except (cards.CardDataError, CardError) as e:
        reason, code = "96", getattr(e, "code", "CHIP_ERROR")
    app.state.record("unknown", batch=txn["batch"], trace=txn["trace"], reason=reason)
    app.log("trace %06d: card refused the approval (%s), reversing", txn["trace"], code)
    try:
        await pending.send_reversals(app)
    except PosError:
        pass
    raise PosError(code)


def same_card(app, card, txn):
    """Is `card` the card of the journaled `txn`? Compared on the sealed
    PAN when the journal has it, else on the masked one."""
    sealed = txn.get("pan_sealed")
    if sealed:
        from hal.compat import unhexlify
        return app.devices.keystore.unseal(unhexlify(sealed)).decode() == card.pan
    return cards.mask_pan(card.pan) == txn.get("pan")


def signature_needed(app, txn):
    """Does the cardholder sign this transaction on the screen (电签)? Only
    with setting esign on and the transaction approved: a sale unless
    小额双免 said no signature; a void or a refund only where the acquirer
    asks for it (esign_void, esign_refund)."""
    settings = app.settings
    if not settings.esign or txn.get("state") != APPROVED:
        return False
    if txn.get("order"):
        # A QR payment: the payer confirmed it in the wallet app; there is
        # no card and no cardholder signature (UnionPay QR, 付款码 alike).
        return False
    kind = txn["type"]
    if kind == SALE:
        return txn.get("cvm") not in ("no_pin_no_signature", "no_signature")
    if kind == VOID:
        return settings.esign_void
    if kind == REFUND:
        return settings.esign_refund
    return False


async def collect_signature(app, title, txn):
    """The cardholder's e-signature when this transaction needs one: ->
    the image (firmware/esign.encode bytes), or None when it needs none
    or there is none (CANCEL, the time limit, no touch panel: the paper
    slip is the fallback).

    finish() hands the image to firmware/signatures.py, which keeps it
    durably and journals it before the receipts."""
    if not signature_needed(app, txn):
        return None
    from firmware import signpad
    app.ui.drain()   # keys pressed during the host exchange must not sign or cancel
    return await signpad.ask_signature(app, title, txn)


async def finish(app, title, txn, ok_code):
    """Approved: the card out first (a chip card left in the slot is the
    most common loss at the counter), the cardholder's signature on the
    screen where one is taken (kept and journaled before the receipts,
    which print it), then the copies that print (setting paper), then the
    result: with the QR e-receipt for the cardholder's phone where the
    cardholder gets no paper (firmware/ereceipt.py); then the e-receipt's
    upload (firmware/signatures.py)."""
    app.ui.drain()
    summary = [ok_code, ("AMOUNT", format_amount(txn["amount"])), ("TRACE_NO", "%06d" % txn["trace"])]
    await app.ui.wait_card_removed(app.devices.card_reader, title, summary)
    image = await collect_signature(app, title, txn)
    txn = await signatures.capture(app, title, txn, signature_needed(app, txn), image)
    try:
        await app.print_receipts(txn)
    except (DeviceError, PosError) as e:
        # The money moved: a printer fault or a full disk must not hide that
        # (a cashier who never sees "approved" charges again). Reprint later.
        app.log("receipt of trace %06d not printed: %s", txn["trace"], e.code)
        summary = summary + [(e.code,)]
    if ereceipt.offered(app.settings):
        # The code on the screen opens the host's copy of the receipt: one
        # round of its upload first; the rest (and the paper fallback) after.
        await upload_receipt(app, txn, 1)
        try:
            await ereceipt.show(app, title, txn, [ok_code] + summary[3:])
        except DeviceError as e:
            # No code (the key store cannot make it): the approval shows all
            # the same, or the cashier charges again. Reprint shows it later.
            app.log("e-receipt code of trace %06d: %s", txn["trace"], e.code)
            await app.ui.message(title, summary, tone="ok")
    else:
        await app.ui.message(title, summary, tone="ok")
    await upload_receipt(app, txn)


async def upload_receipt(app, txn, rounds=None):
    """The e-receipt (and signature) up to the host while the cardholder is
    still there: a paper slip to sign if it cannot go. Never an error on
    an approved transaction: what is left goes before the next one."""
    if not app.state.upload_owed(txn["batch"], txn["trace"]):
        return
    try:
        await signatures.upload(app, txn, rounds)
    except (DeviceError, PosError) as e:
        app.log("e-receipt of trace %06d: %s", txn["trace"], e.code)
