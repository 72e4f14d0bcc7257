"""Settlement (结算): close the batch with the host.

Supervisor password; pending work first (reversals, refunds, a settlement
left open); then firmware/settlement.py: the 0500 journaled and sent, the
batch upload when unbalanced, the new batch; then the settlement report
(printed; on the screen with paper none).
"""

from firmware import ereceipt, pending
from firmware.flows import common
from firmware.settlement import print_report, report_lines, settle_batch

TITLE = "SETTLE"


async def run(app):
    await common.supervisor(app, TITLE)
    await common.ensure_signed_on(app)
    state = app.state
    left_open = state.settling["batch"] if state.settling else None
    await pending.clear(app)
    app.ui.show(TITLE, ["PROCESSING"])
    if left_open is not None and left_open in state.settled_batches:
        # The settlement a lost reply or a power cut left open was just
        # finished (and its report printed): that was this settlement.
        report = state.last_settlement
    else:
        report = await settle_batch(app)
        await print_report(app, report)
    outcome = ["SETTLE_OK" if report["balanced"] else "SETTLE_UNBALANCED"]
    if not ereceipt.prints(app.settings):
        # No paper: the report is read here (and again from Reprint).
        await app.ui.message(TITLE, outcome + report_lines(report), app.settings.ui_timeout_ms, tone="ok")
        return
    await app.ui.message(TITLE, outcome, tone="ok")

