"""Settlement (结算): close the batch with the host.

Supervisor password; pending reversals and refunds first; 0500 with the
batch totals in F48 (debit = sales still standing, credit = refunds); the
host answers balanced or not; unbalanced means a batch upload (0320, one
per transaction, then 60.3 = 207 to end); then the settlement report and a
new batch number.
"""

from hal.errors import DeviceError, StorageError
from firmware import pending
from firmware.errors import PosError, response_message_code
from firmware.flows import common
from firmware.host import HostError
from firmware.iso8583 import field60
from firmware.online import now_text
from firmware import receipt
from firmware.terminal import APPROVED, REFUND, SALE, UNCONFIRMED

TITLE = "SETTLE"
BALANCED = "1"


def batch_totals(state):
    """-> (totals, F48): debit = sales still standing, credit = refunds,
    settle code 0 (the host writes its verdict there)."""
    totals = state.totals()
    return totals, "%012d%03d%012d%03d0" % (totals["sale_amount"], totals["sale_count"] % 1000,
                                            totals["refund_amount"], totals["refund_count"] % 1000)


async def exchange(app, mti, fields):
    try:
        reply = await app.host.exchange(mti, fields)
    except HostError as e:
        raise PosError(e.code)
    if reply[39] != "00":
        raise PosError(response_message_code(reply[39]), reply[39])
    return reply


async def batch_upload(app):
    """Send every approved transaction of the batch, then the end marker."""
    state = app.state
    uploaded = 0
    for txn in state.batch_txns():
        if txn["state"] != APPROVED:
            continue
        fields = {3: (txn.get("req") or {}).get("3", "000000"), 4: "%012d" % txn["amount"],
                  11: "%06d" % state.reserve_trace(), 41: app.settings.terminal_id,
                  42: app.settings.merchant_id,
                  48: "%06d%02d" % (txn["trace"], 22 if txn["type"] == SALE else 25 if txn["type"] == REFUND else 23),
                  60: field60("00", state.batch, "202")}
        if txn.get("rrn"):
            fields[37] = txn["rrn"]
        await exchange(app, "0320", fields)
        uploaded += 1
    fields = {11: "%06d" % state.reserve_trace(), 41: app.settings.terminal_id,
              42: app.settings.merchant_id, 48: "%04d" % uploaded, 60: field60("00", state.batch, "207")}
    await exchange(app, "0320", fields)


async def run(app):
    await common.supervisor(app, TITLE)
    await common.ensure_signed_on(app)
    await pending.clear(app)
    state = app.state
    totals, f48 = batch_totals(state)
    trace = state.reserve_trace()
    fields = {11: "%06d" % trace, 41: app.settings.terminal_id, 42: app.settings.merchant_id,
              48: f48, 49: "156", 60: field60("00", state.batch, "201"), 63: "%03d" % int(app.operator)}
    app.ui.show(TITLE, ["PROCESSING"])
    reply = await exchange(app, "0500", fields)
    verdict = (reply.get(48) or f48)[30:31]
    balanced = verdict == BALANCED
    if not balanced:
        await batch_upload(app)
    report = {"batch": state.batch, "time": now_text(app), "totals": totals, "balanced": balanced}
    unconfirmed = [{"trace": t["trace"], "amount": t["amount"]} for t in state.batch_txns()
                   if t["state"] == UNCONFIRMED]
    if unconfirmed:
        report["unconfirmed"] = unconfirmed
    settled_batch = state.batch
    state.record("settle", batch=settled_batch, report=report)  # also opens the next batch
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
    app.log("batch %06d settled (%s)", settled_batch, "balanced" if balanced else "unbalanced")
    try:
        await app.print_slip(receipt.settlement_lines(app.settings, report), TITLE)
    except (DeviceError, PosError) as e:
        app.log("settlement report not printed: %s", e.code)  # reprint from the menu
    await app.ui.message(TITLE, ["SETTLE_OK" if balanced else "SETTLE_UNBALANCED"])
