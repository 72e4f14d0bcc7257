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
from hal.errors import KeyStoreError, StorageError
from firmware.errors import PosError
from firmware.host import HostError
from firmware.terminal import APPROVED, DECLINED

# DESIGN.md: a reversal carries the original less F26/35/36/37/52/53 (and
# never a MAC of the old request: it gets its own).
NOT_IN_REVERSAL = ("26", "35", "36", "37", "52", "53", "64")


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
    """Reversals first, then refunds. Raises PosError if either is left.
    (`quiet` is for run_flow: at boot a failure is logged, not shown.)"""
    await send_reversals(app)
    await resend_refunds(app)


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
                if not e.sent:
                    break  # the host is not there at all: no use trying at once again
                continue
            # Any well-formed answer is the host's acknowledgement (00, or
            # 25 "original not found": it never applied it). Both close it.
            state.record("reversal", batch=txn["batch"], trace=txn["trace"], result="done",
                         rc=reply[39])
            app.log("reversal of trace %06d acknowledged (%s)", txn["trace"], reply[39])
            done = True
            break
        if not done:
            await print_failure_slip(app, txn)
            raise PosError("REVERSAL_PENDING")


async def resend_refunds(app):
    state = app.state
    for txn in state.pending_refunds():
        fields = request_from_journal(app, txn, ("64",))
        app.ui.show("REFUND", ["RESENDING_REFUND"])
        try:
            state.record("resend", batch=txn["batch"], trace=txn["trace"])
            reply = await app.host.exchange(txn["mti"], fields)
        except HostError as e:
            app.log("refund trace %06d resend: %s", txn["trace"], e.code)
            raise PosError("REFUND_PENDING")
        update = {"state": APPROVED if reply[39] in ("00", "94") else DECLINED, "rc": reply[39]}
        if reply.get(37):
            update["rrn"] = reply[37]
        if reply.get(38):
            update["auth"] = reply[38]
        state.record("reply", batch=txn["batch"], trace=txn["trace"], **update)
        app.log("refund trace %06d resent, answered %s", txn["trace"], reply[39])
        if update["state"] == APPROVED:
            await app.print_receipts(state.find(txn["batch"], txn["trace"]))


async def print_failure_slip(app, txn):
    """A paper trail for the merchant: this reversal could not be sent yet."""
    if txn.get("slip_printed"):
        return
    try:
        await app.print_reversal_slip(txn)
        txn["slip_printed"] = True  # once per boot is enough
    except (StorageError, PosError):
        pass
