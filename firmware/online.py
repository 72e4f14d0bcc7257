"""One online financial transaction, with the money rules around it.

    clear pending work -> take a trace -> journal the request -> send
    -> journal the answer -> approved (or a PosError that says why not)

The request is journaled (less track data, PIN block and the clear PAN,
which is kept sealed by the key store) before a byte leaves, so whatever
happens next (no reply, a bad MAC, a power cut) the terminal can reverse
it (sale, void) or send it again with the same trace (refund).
"""

from hal.compat import hexlify
from hal.errors import KeyStoreError, StorageError
from firmware import pending
from firmware.card import build_field55, entry_mode_code, mask_pan, set_sequence_counter
from firmware.errors import SIGN_ON_AGAIN, PosError, response_message_code
from firmware.host import HostError, answer_fields
from firmware.terminal import APPROVED, DECLINED, REFUND, SALE, SENT, UNCONFIRMED, VOID, WAITING
from firmware import qrpay
from firmware.iso8583 import field60

SALE_TYPE = "22"
VOID_TYPE = "23"
REFUND_TYPE = "25"

# Never journaled: track data, PIN data, the clear PAN (sealed apart), the MAC.
NOT_JOURNALED = (2, 35, 36, 52, 53, 64)


def now_text(app):
    t = app.devices.clock.now()
    return "%04d%02d%02d%02d%02d%02d" % tuple(t[:6])


def card_fields(app, card, pin_block):
    """The fields that carry the card and the cardholder's PIN."""
    fields = {22: entry_mode_code(card, pin_block is not None), 25: "00"}
    if card.entry_mode in ("insert", "tap"):
        fields[2] = card.pan
        if card.card_seq:
            fields[23] = card.card_seq
        if card.icc_data:
            fields[55] = card.icc_data
    if card.expiry:
        fields[14] = card.expiry
    track_flag = "0"
    if card.track2:
        fields[35], track_flag = track_field(app, card.track2)
    # F53: PIN format, 6 = double-length key, then the track encryption flag.
    if pin_block is not None:
        fields[26] = "12"
        fields[52] = pin_block
        fields[53] = "26" + track_flag + "0000000000000"
    else:
        fields[53] = "06" + track_flag + "0000000000000"
    return fields


def track_field(app, track):
    """-> (F35 as sent, F53's track flag): the track's issuer block
    encrypted under the track data key (flag 1), or in clear (flag 0) only
    where the acquirer does not encrypt tracks (track_encryption off)."""
    if not app.settings.track_encryption:
        return track, "0"
    try:
        return app.devices.keystore.encrypt_track(track), "1"
    except KeyStoreError:
        raise PosError("KEYSTORE")


def base_fields(app, processing_code, amount, type_code, card=None):
    fields = {3: processing_code, 4: "%012d" % amount, 41: app.settings.terminal_id,
              42: app.settings.merchant_id, 49: "156"}
    read_capability = "6" if card is not None and card.entry_mode != "swipe" else "5"
    ic_flag = "0"
    if card is not None and getattr(card, "fallback", False):
        ic_flag = "2"
    fields[60] = field60(type_code, app.state.batch, "000", read_capability, ic_flag)
    return fields


def sale_fields(app, amount, card, pin_block):
    """0200 / 000000, 60.1 = 22."""
    fields = base_fields(app, "000000", amount, SALE_TYPE, card)
    fields.update(card_fields(app, card, pin_block))
    return fields


def void_fields(app, orig, card, pin_block):
    """0200 / 200000, 60.1 = 23: F4 the original amount, F37/F38 the
    original's RRN and auth code, F61 original batch (6) + trace (6). The
    card is read only when the setting asks for it."""
    fields = base_fields(app, "200000", orig["amount"], VOID_TYPE, card)
    if card is not None:
        fields.update(card_fields(app, card, pin_block))
    fields[37] = orig.get("rrn", "")
    if orig.get("auth"):
        fields[38] = orig["auth"]
    fields[61] = "%06d%06d" % (orig["batch"], orig["trace"])
    return fields


def refund_fields(app, amount, card, pin_block, orig_rrn, orig_date):
    """0220 / 200000, 60.1 = 25: F37 the original RRN, F61 = 000000 +
    000000 + the original's date MMDD. No card for a QR payment's refund
    (the flow adds qr_order_fields)."""
    fields = base_fields(app, "200000", amount, REFUND_TYPE, card)
    if card is not None:
        fields.update(card_fields(app, card, pin_block))
    fields[37] = orig_rrn
    fields[61] = "000000000000" + orig_date
    return fields


def settlement_fields(app, batch, trace, totals):
    """0500 (60.3 = 201): F48 = debit (sales still standing) amount n12 +
    count n3, credit (refunds) amount n12 + count n3, settle code 0 (the
    host writes its verdict there)."""
    f48 = "%012d%03d%012d%03d0" % (totals["sale_amount"], totals["sale_count"] % 1000,
                                   totals["refund_amount"], totals["refund_count"] % 1000)
    return {11: "%06d" % trace, 41: app.settings.terminal_id, 42: app.settings.merchant_id,
            48: f48, 49: "156", 60: field60("00", batch, "201"), 63: "%03d" % int(app.operator)}


BATCH_UPLOAD_TYPES = {SALE: 22, VOID: 23, REFUND: 25}


def batch_upload_fields(app, batch, trace, txn):
    """0320 (60.3 = 202) for one approved transaction: F48 = its trace +
    type code."""
    fields = {3: (txn.get("req") or {}).get("3", "000000"), 4: "%012d" % txn["amount"],
              11: "%06d" % trace, 41: app.settings.terminal_id, 42: app.settings.merchant_id,
              48: "%06d%02d" % (txn["trace"], BATCH_UPLOAD_TYPES[txn["type"]]),
              60: field60("00", batch, "202")}
    if txn.get("rrn"):
        fields[37] = txn["rrn"]
    return fields


def batch_upload_end_fields(app, batch, trace, count):
    """0320 (60.3 = 207) that ends a batch upload: F48 = the count sent."""
    return {11: "%06d" % trace, 41: app.settings.terminal_id, 42: app.settings.merchant_id,
            48: "%04d" % count, 60: field60("00", batch, "207")}


def journal_request(fields):
    """The request as the journal keeps it: str values, binary as hex."""
    req = {}
    for number in fields:
        if number in NOT_JOURNALED:
            continue
        value = fields[number]
        if isinstance(value, (bytes, bytearray)):
            req[str(number)] = {"hex": hexlify(value)}
        else:
            req[str(number)] = value
    return req


async def authorise(app, kind, mti, fields, amount, card=None, orig=None, extra=None, waiting_ok=False):
    """Send one financial request and journal everything about it.
    -> the journaled txn dict when approved (or, with `waiting_ok`, when a
    QR payment waits for the customer: state WAITING); raises PosError
    otherwise."""
    await pending.clear(app)
    state = app.state
    # Pending work (a settlement left open) may have moved to a new batch
    # since the fields were built: the request carries the batch it is
    # journaled in (60.2).
    fields[60] = fields[60][:2] + "%06d" % state.batch + fields[60][8:]
    trace = state.next_trace()
    fields[11] = "%06d" % trace
    if card is not None and 55 in fields and set_sequence_counter(card, trace):
        # The chip was read with the trace expected then (9F41); the request
        # carries this one, and field 55 must say the same.
        fields[55] = build_field55(card)
    entry = {"batch": state.batch, "trace": trace, "type": kind, "mti": mti, "amount": amount,
             "state": SENT, "time": now_text(app), "op": app.operator, "req": journal_request(fields)}
    if card is not None:
        entry["pan"] = mask_pan(card.pan)
        entry["exp"] = card.expiry
        entry["mode"] = card.entry_mode
        if 2 in fields or kind == REFUND:
            # Needed to rebuild a reversal or a resent refund; sealed so the
            # journal never holds a readable card number.
            entry["pan_sealed"] = hexlify(app.devices.keystore.seal(card.pan.encode()))
        # The receipt shows the chip's AID (and its TC, journaled once the
        # card has given it: firmware/flows/common.complete_chip).
        if getattr(card, "aid", None):
            entry["aid"] = card.aid
    if 52 in fields:
        entry["pin"] = True    # the e-receipt says so (FF30 P); the PIN block itself is never journaled
    if orig is not None:
        entry["orig"] = orig
    if extra:
        entry.update(extra)
    try:
        state.record("txn", **entry)
    except StorageError as e:
        raise PosError(e.code)
    app.log("%s trace %06d amount %d sent", kind, trace, amount)
    app.ui.show(kind.upper(), ["PROCESSING"])

    if kind == REFUND:
        return await send_refund(app, mti, fields, state.batch, trace)
    try:
        reply = await app.host.exchange(mti, dict(fields))
    except HostError as e:
        journal_no_answer(app, state.batch, trace, e)
        # Outcome unknown: the host may have taken the money. Reverse now; if
        # that fails too, it stays pending and goes first next time.
        try:
            await pending.send_reversals(app)
        except PosError:
            pass
        raise PosError(e.code)
    return record_reply(app, state.batch, trace, reply, waiting_ok)


async def send_refund(app, mti, fields, batch, trace):
    """A refund is never reversed: without an answer it goes again, same
    trace, same fields, up to refund_send_tries times in the flow (then it
    stays pending: firmware/pending.py resends it later)."""
    state = app.state
    try:
        reply = await app.host.exchange(mti, dict(fields))
        return record_reply(app, batch, trace, reply)
    except HostError as e:
        journal_no_answer(app, batch, trace, e)
    for attempt in range(1, app.settings.refund_send_tries):
        app.ui.show("REFUND", [("RETRY", attempt)])
        state.record("resend", batch=batch, trace=trace)
        try:
            reply = await app.host.exchange(mti, dict(fields))
        except HostError as e:
            app.log("refund trace %06d resend: %s", trace, e.code)
            if e.sign_on_again:
                app.signed_on = False
            continue
        if pending.record_refund_repeat(app, state.find(batch, trace), reply):
            txn = state.find(batch, trace)
            if txn["state"] == UNCONFIRMED:
                raise PosError("REFUND_NOT_CONFIRMED")
            if txn["state"] != APPROVED:
                raise PosError(response_message_code(reply[39]), reply[39])
            return txn
    raise PosError("REFUND_UNCONFIRMED")


def journal_no_answer(app, batch, trace, e):
    """The first sending got no usable answer (HostError `e`). Never left
    the terminal: journaled as such, and PosError raised (nothing to
    reverse or resend). Otherwise journaled as unknown, for the caller to
    reverse (sale, void) or send again (refund)."""
    if e.sign_on_again:
        app.signed_on = False
    if not e.sent:
        app.state.record("offline", batch=batch, trace=trace, reason=e.code)
        raise PosError(e.code)
    app.state.record("unknown", batch=batch, trace=trace, reason=e.reason)
    app.log("trace %06d: %s", trace, e.code)


def record_reply(app, batch, trace, reply, waiting_ok=False):
    """Journal the host's answer; -> txn if approved (or waiting for a QR
    customer, with `waiting_ok`), else raise PosError."""
    rc = reply[39]
    update = answer_fields(reply)
    update.update(qr_answer_fields(reply))
    if waiting_ok and rc == QR_IN_PROGRESS:
        update["state"] = WAITING
        app.state.record("reply", batch=batch, trace=trace, **update)
        app.log("trace %06d: the customer is paying", trace)
        return app.state.find(batch, trace)
    update["state"] = APPROVED if rc == "00" else DECLINED
    app.state.record("reply", batch=batch, trace=trace, **update)
    app.log("trace %06d answered %s", trace, rc)
    if rc in SIGN_ON_AGAIN:
        app.signed_on = False
    if rc != "00":
        raise PosError(response_message_code(rc), rc)
    return app.state.find(batch, trace)


# --- QR payments (firmware/qrpay.py has the codes and F59; docs/QR.md the messages) ---

QR_IN_PROGRESS = "09"      # the customer has not confirmed on the phone yet
QR_QUERY_PROCESSING = "330000"
QR_ENTRY_MODE = "030"      # a code read by the scanner
QR_PAID = "PAID"
QR_WAITING = "WAITING"


def qr_answer_fields(reply):
    """The order number and channel a QR answer carries in F59 (nothing for cards)."""
    if not reply.get(59):
        return {}
    try:
        f59 = qrpay.parse_field59(reply[59])
    except qrpay.QrPayError:
        return {}
    kept = {}
    if f59.get("A4"):
        kept["order"] = f59["A4"]
    if f59.get("A1") in qrpay.CHANNELS:
        kept["channel"] = f59["A1"]
    if f59.get("A6"):
        kept["code_text"] = f59["A6"]      # C2B: what the customer's phone scans
    return kept


def qr_sale_fields(app, amount, code=None):
    """A QR sale: no card fields; F59 carries the device and either the
    customer's code (B2C, A3) or a request for a code to show (C2B, A8)."""
    fields = base_fields(app, "000000", amount, SALE_TYPE)
    fields[22] = QR_ENTRY_MODE
    fields[25] = "00"
    from firmware.app import VERSION     # here: firmware.app imports this module
    # The hardware serial number belongs in A2's 02; until the device reports
    # one through the HAL, the terminal id stands in for it.
    items = [("A2", qrpay.device_info(app.settings.terminal_id, VERSION))]
    items.append(("A3", code) if code is not None else ("A8", "1"))
    fields[59] = qrpay.field59(items)
    return fields


def qr_order_fields(order):
    """What a void or refund of a QR payment adds: the order (F59 A4), and
    the entry mode of a code instead of a card."""
    return {22: QR_ENTRY_MODE, 25: "00", 59: qrpay.field59([("A4", order)])}


async def query_order(app, txn):
    """Ask the host where a waiting QR order stands. -> (status, reply) with
    status PAID, WAITING, CLOSED or FAILED; HostError when there is no answer
    (a query moves no money: nothing to reverse)."""
    trace = app.state.reserve_trace()
    fields = {3: QR_QUERY_PROCESSING, 4: "%012d" % 0, 11: "%06d" % trace, 41: app.settings.terminal_id,
              42: app.settings.merchant_id, 59: qrpay.field59([("A4", txn["order"])]),
              60: field60(SALE_TYPE, app.state.batch, "000")}
    reply = await app.host.exchange("0200", fields)
    if reply[39] != "00":
        return "FAILED" if reply[39] == "25" else QR_WAITING, reply
    try:
        status = qrpay.parse_field59(reply.get(59) or "").get("A5")
    except qrpay.QrPayError:
        status = None
    return status or QR_WAITING, reply


def record_qr_outcome(app, txn, status, reply):
    """A waiting order was paid (approved, with the query's RRN and auth
    code) or closed (declined). -> the txn."""
    update = {"state": APPROVED if status == QR_PAID else DECLINED, "rc": "00" if status == QR_PAID else "51"}
    for number, name in ((37, "rrn"), (38, "auth"), (13, "host_date"), (12, "host_time")):
        if reply.get(number):
            update[name] = reply[number]
    update.update(qr_answer_fields(reply))
    app.state.record("reply", batch=txn["batch"], trace=txn["trace"], **update)
    app.log("trace %06d: QR order %s", txn["trace"], status)
    return app.state.find(txn["batch"], txn["trace"])


def give_up_waiting(app, txn):
    """The customer never confirmed (or the cashier cancelled): the outcome
    is not ours to know, so the order is reversed like any unknown sale."""
    app.state.record("unknown", batch=txn["batch"], trace=txn["trace"], reason="06")
