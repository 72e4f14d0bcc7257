"""Work the terminal owes the host before anything else: reversals (冲正)
of sales and voids whose outcome is unknown, and refunds to send again.

clear() runs at boot, before every online transaction and before
settlement. A reversal is tried up to `reversal_tries` times a round; a
round that fails prints a slip (once) and stops the next transaction: the
money rule is that nothing new goes out while the host may still hold an
unreversed request. A refund is never reversed: it is sent again with the
same trace until the host answers (the host recognises the repeat).
"""

from hal.compat import unhexlify
from hal.errors import DeviceError, KeyStoreError
from firmware import ereceipt, receipt, signatures
from firmware.errors import SIGN_ON_AGAIN, PosError
from firmware.host import HostError, answer_fields
from firmware.terminal import APPROVED, DECLINED, UNCONFIRMED

# DESIGN.md: a reversal carries the original less F26/35/36/37/52/53 (and
# never a MAC of the old request: it gets its own).
NOT_IN_REVERSAL = ("26", "35", "36", "37", "52", "53", "64")

# Answers that close a reversal: done (00), nothing to reverse (25 original
# not found, 12 invalid: the host never holds it).
REVERSAL_CLOSED = ("00", "12", "25")

# Answers that say the host did not process a request at all: a refund
# repeat answered so is still pending.
NOT_PROCESSED = ("06", "96", "97", "98", "99", "A0")


def request_from_journal(app, txn, leave_out=()):
    """Rebuild the fields of a journaled request."""
    fields = {}
    req = txn["req"]
    for name in req:
        if name in leave_out:
            continue
        value = req[name]
        fields[int(name)] = unhexlify(value["hex"]) if isinstance(value, dict) else value
    if txn.get("pan_sealed"):
        try:
            fields[2] = app.devices.keystore.unseal(unhexlify(txn["pan_sealed"])).decode()
        except KeyStoreError:
            # The data key is gone (a replaced key store): the host finds the
            # original by terminal, batch and trace without field 2.
            app.log("trace %06d: sealed card number unreadable, sent without F2", txn["trace"])
    return fields


async def clear(app, quiet=False):
    """Reversals first, then refunds, then the e-receipts owed, then a
    settlement left open. Raises PosError if a reversal, a refund or the
    settlement is left; an e-receipt that cannot go up never stops the
    next sale (no money is at stake in it: firmware/signatures.py).
    (`quiet` is for run_flow: at boot a failure is logged, not shown.)"""
    await send_reversals(app)
    await resend_refunds(app)
    await signatures.send_owed(app)
    await finish_settlement(app)


async def finish_settlement(app):
    """A 0500 that left without a usable answer (or before a power cut):
    the host may have closed the batch. Nothing new goes into it until the
    0500 is answered: it goes again (the host replays its verdict), then the
    report prints."""
    if app.state.settling is None:
        return
    # Imported here: firmware.settlement builds on online, which builds on us.
    from firmware.settlement import print_report, settle_batch
    app.ui.show("SETTLE", ["SETTLE_RESUMING"])
    try:
        report = await settle_batch(app)
    except PosError as e:
        app.log("settlement of batch %06d still open: %s", app.state.batch, e.code)
        if app.state.settling is not None:
            raise PosError("SETTLE_PENDING")
        raise
    await print_report(app, report)


async def send_reversals(app):
    state = app.state
    for txn in state.pending_reversals():
        fields = request_from_journal(app, txn, NOT_IN_REVERSAL)
        fields[39] = txn.get("reason", "98") if txn["state"] == "unknown" else "96"
        app.ui.show("REVERSAL", ["SENDING_REVERSAL"])
        done = False
        for _ in range(app.settings.reversal_tries):
            try:
                reply = await app.host.exchange("0400", dict(fields))
            except HostError as e:
                app.log("reversal of trace %06d: %s", txn["trace"], e.code)
                state.record("reversal", batch=txn["batch"], trace=txn["trace"], result="failed")
                if e.sign_on_again:
                    app.signed_on = False
                    break  # new keys first: sign-on sends it again
                if not e.sent:
                    break  # the host is not there at all: no use trying at once again
                continue
            rc = reply[39]
            if rc not in REVERSAL_CLOSED:
                # 96, A0, 99...: the host did not process the reversal; the
                # money may still be with it. A failed try, not an answer.
                app.log("reversal of trace %06d answered %s: not taken", txn["trace"], rc)
                state.record("reversal", batch=txn["batch"], trace=txn["trace"], result="failed", rc=rc)
                if rc in SIGN_ON_AGAIN:
                    app.signed_on = False
                    break  # new keys first: sign-on sends it again
                continue
            state.record("reversal", batch=txn["batch"], trace=txn["trace"], result="done", rc=rc)
            app.log("reversal of trace %06d acknowledged (%s)", txn["trace"], rc)
            done = True
            break
        if not done:
            await print_failure_slip(app, txn)
            raise PosError("REVERSAL_PENDING")


def record_refund_repeat(app, txn, reply):
    """The answer to a refund sent AGAIN (its first sending may have been
    applied). The host replays its first answer to a true repeat, so 00 is
    approved and a definite business decline (25, 51, 61...) is declined.
    94 says the host holds a DIFFERENT request under this trace: nothing
    proves this refund was paid, so it is unconfirmed (never "successful";
    the merchant calls the acquirer; the settlement report lists it). A host
    that did not process it (96, 98, A0, 99...): still pending.
    -> True if the refund is settled (no more resends)."""
    rc = reply[39]
    if rc in SIGN_ON_AGAIN:
        app.signed_on = False
    if rc in NOT_PROCESSED:
        app.log("refund trace %06d resent, answered %s: still pending", txn["trace"], rc)
        return False
    update = answer_fields(reply)
    update["state"] = APPROVED if rc == "00" else UNCONFIRMED if rc == "94" else DECLINED
    app.state.record("reply", batch=txn["batch"], trace=txn["trace"], **update)
    app.log("refund trace %06d resent, answered %s", txn["trace"], rc)
    return True


async def resend_refunds(app):
    state = app.state
    for txn in state.pending_refunds():
        fields = request_from_journal(app, txn, ("64",))
        app.ui.show("REFUND", ["RESENDING_REFUND"])
        state.record("resend", batch=txn["batch"], trace=txn["trace"])
        try:
            reply = await app.host.exchange(txn["mti"], fields)
        except HostError as e:
            app.log("refund trace %06d resend: %s", txn["trace"], e.code)
            if e.sign_on_again:
                app.signed_on = False
            raise PosError("REFUND_PENDING")
        if not record_refund_repeat(app, txn, reply):
            raise PosError("REFUND_PENDING")
        if txn["state"] == UNCONFIRMED:
            await print_unconfirmed_refund_slip(app, txn)
        if txn["state"] == APPROVED:
            # Its e-receipt is owed too; the cardholder has gone (signed on paper, if at all).
            signatures.recover(app, txn)
            txn = app.state.find(txn["batch"], txn["trace"])
            try:
                await app.print_receipts(txn)
            except (DeviceError, PosError) as e:
                app.log("receipt of refund trace %06d not printed: %s", txn["trace"], e.code)


async def print_unconfirmed_refund_slip(app, txn):
    """A paper trail: this refund is not confirmed, call the acquirer.
    Without paper (setting paper none) the settlement report on the screen
    lists it, as the printed one does."""
    if not ereceipt.prints(app.settings):
        return
    try:
        await app.print_slip(receipt.unconfirmed_refund_lines(app.settings, txn), "REFUND")
    except (DeviceError, PosError) as e:
        app.log("unconfirmed refund slip of trace %06d not printed: %s", txn["trace"], e.code)


async def print_failure_slip(app, txn):
    """A paper trail for the merchant: this reversal could not be sent yet.
    Without paper (setting paper none) the screen's REVERSAL_PENDING is
    all: the reversal itself goes on automatically either way."""
    if txn.get("slip_printed") or not ereceipt.prints(app.settings):
        return
    try:
        await app.print_reversal_slip(txn)
        txn["slip_printed"] = True  # once per boot is enough
    except (DeviceError, PosError):
        pass  # the slip is a courtesy; the reversal itself stays pending
