"""Settlement (结算) with the host, journaled like a financial request.

    settling record -> 0500 -> verdict -> (batch upload) -> settle record

The `settling` record is journaled before the 0500 leaves. Until the
`settle` record closes it, the terminal does not know whether the host
closed the batch (a lost 0510, a power cut after sending): the 0500 goes
again, same batch and trace, at boot and before the next transaction
(firmware/pending.py), and the host replays its first verdict. So the next
sales never land in a batch the host has settled, and no batch is settled
twice. A definite answer other than 00, or a connection that never opened,
closes the `settling` record with a result: the host did not settle.
"""

from hal.errors import DeviceError, StorageError
from firmware import ereceipt, fees, online, receipt, signatures
from firmware.errors import SIGN_ON_AGAIN, PosError, response_message_code
from firmware.host import HostError
from firmware.terminal import APPROVED, REFUND, SALE, UNCONFIRMED, VOID
from firmware.texts import format_amount

BALANCED = "1"


async def settle_batch(app):
    """Settle the current batch (or finish the settlement left open). ->
    the report; raises PosError saying what happened and what next:
    HOST_DOWN (nothing sent, try again), SETTLE_UNKNOWN (sent, no usable
    answer: retried automatically), a host's refusal code (not settled)."""
    state = app.state
    if state.settling is None:
        state.record("settling", batch=state.batch, trace=state.next_trace())
    batch = state.settling["batch"]
    trace = state.settling["trace"]
    totals = state.totals(batch)
    reply = await _exchange(app, "0500", online.settlement_fields(app, batch, trace, totals))
    balanced = (reply.get(48) or "")[30:31] == BALANCED
    if not balanced:
        await _batch_upload(app, batch)
    report = {"batch": batch, "time": online.now_text(app), "totals": totals, "balanced": balanced,
              "channels": state.channel_totals(batch), "fees": fee_report(app, batch)}
    unconfirmed = [{"trace": t["trace"], "amount": t["amount"]} for t in state.iter_batch()
                   if t["state"] == UNCONFIRMED]
    if unconfirmed:
        report["unconfirmed"] = unconfirmed
    state.record("settle", batch=batch, report=report)  # also opens the next batch
    try:
        state.compact()
    except StorageError as e:
        # The settlement stands (journaled above); the journal is just not
        # shorter. It is tried again at the next settlement.
        app.log("journal not compacted: %s", e)
    else:
        # The journal now holds only what this settlement agreed with the
        # host: what was quarantined or damaged in it is gone (kept in the
        # side files for the support export).
        app.service_done("journal")
    # The settled batch's signatures that are uploaded are no longer needed.
    signatures.sweep(app)
    app.log("batch %06d settled (%s)", batch, "balanced" if balanced else "unbalanced")
    return report


def fee_report(app, batch):
    """Gross, fee and net by class (debit, credit, qr) and in total, from
    the batch's money still standing: sales not voided, less refunds."""
    state = app.state
    items = []
    for txn in state.batch_txns(batch):
        if txn["state"] != APPROVED or txn["type"] == VOID:
            continue
        if txn["type"] == SALE and state.voided_by(txn):
            continue
        sign = -1 if txn["type"] == REFUND else 1
        items.append((fees.card_class(txn), sign * txn["amount"]))
    return fees.totals(items, fees.rates_from(app.settings))


async def _exchange(app, mti, fields):
    """One settlement message. The outcome decides what the open
    `settling` record becomes."""
    state = app.state
    settling = state.settling
    try:
        reply = await app.host.exchange(mti, fields)
    except HostError as e:
        if e.sign_on_again:
            app.signed_on = False
        if not e.sent and mti == "0500":
            # Nothing reached the host: nothing settled, nothing owed.
            state.record("settling", batch=settling["batch"], trace=settling["trace"], result="not_sent")
            raise PosError(e.code)
        app.log("settlement %s of batch %06d: %s, outcome unknown", mti, settling["batch"], e.code)
        raise PosError("SETTLE_UNKNOWN")
    rc = reply[39]
    if rc in SIGN_ON_AGAIN:
        app.signed_on = False
    if rc != "00":
        if mti == "0500":
            # A signed refusal: the host did not close the batch.
            state.record("settling", batch=settling["batch"], trace=settling["trace"], result=rc)
            raise PosError(response_message_code(rc), rc)
        # The host closed the batch (its 0510 said so) but took no upload:
        # the settlement stays open and is finished later.
        app.log("batch upload of batch %06d answered %s", settling["batch"], rc)
        raise PosError("SETTLE_UNKNOWN")
    return reply


async def _batch_upload(app, batch):
    """Every approved transaction of the batch, then the end marker."""
    state = app.state
    uploaded = 0
    for txn in state.iter_batch(batch):
        if txn["state"] != APPROVED:
            continue
        await _exchange(app, "0320", online.batch_upload_fields(app, batch, state.reserve_trace(), txn))
        uploaded += 1
    await _exchange(app, "0320", online.batch_upload_end_fields(app, batch, state.reserve_trace(), uploaded))


async def print_report(app, report):
    """The settlement report; a printer fault does not undo the settlement
    (reprint it from the menu). A handset that does not print (paper none)
    keeps it in the journal (last_settlement): the settle flow shows its
    totals (report_lines), Reprint shows them again."""
    if not ereceipt.prints(app.settings):
        app.log("settlement report of batch %06d kept for the screen (paper none)", report["batch"])
        return
    try:
        await app.print_slip(receipt.settlement_lines(app.settings, report), "SETTLE")
    except (DeviceError, PosError) as e:
        app.log("settlement report not printed: %s", e.code)


def report_lines(report):
    """The settlement report for the screen (paper none): batch, card
    totals by type, the QR wallets, balanced or not, unconfirmed refunds."""
    totals = report["totals"]
    lines = [("SETTLE_BATCH", "%06d" % report["batch"])]
    for kind, code in ((SALE, "SETTLE_SALES"), (VOID, "SETTLE_VOIDS"), (REFUND, "SETTLE_REFUNDS")):
        lines.append((code, totals[kind + "_count"], format_amount(totals[kind + "_amount"])))
    channels = report.get("channels") or {}
    for channel in sorted(channels):
        lines.append(("SETTLE_CHANNEL", receipt.CHANNEL_LABELS.get(channel, channel), channels[channel]["count"],
                      format_amount(channels[channel]["amount"])))
    lines.append("SETTLE_BALANCED" if report["balanced"] else "SETTLE_NOT_BALANCED")
    unconfirmed = report.get("unconfirmed") or []
    if unconfirmed:
        lines.append(("SETTLE_UNCONFIRMED", len(unconfirmed)))
    return lines
