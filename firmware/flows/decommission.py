"""Decommission (退机): Admin, 6. The terminal goes back to the provider.

Supervisor password and a confirmation, then, each stage written down
before the next (firmware/decommission.py): the batch settled, everything
owed sent (reversals, refund resends, a settlement left open), a
decommission slip (a screen with paper none), the host's confirmation
(0820, 60.3 = 960), and only then the wipe of keys, card data, passwords and settings. Refused, with the
reason, while anything is still owed to the host: nothing is wiped then.
"""

from firmware import decommission, ereceipt, online, pending, receipt
from firmware.errors import PosError, TimedOut, response_message_code
from firmware.flows import common
from firmware.host import HostError
from firmware.iso8583 import field60
from firmware.settlement import print_report, settle_batch

TITLE = "DECOMMISSION"
NETWORK_CODE = "960"


async def run(app):
    await common.supervisor(app, TITLE)
    await app.ui.confirm(TITLE, ["DECOM_WARNING"])
    await common.ensure_signed_on(app)
    storage = app.devices.storage
    decommission.set_stage(storage, "started")
    state = app.state
    # 1. The batch settled (pending work first, as every settlement).
    await pending.clear(app)
    if not state.batch_is_empty() or state.settling is not None:
        app.ui.show(TITLE, ["PROCESSING"])
        report = await settle_batch(app)
        await print_report(app, report)
    decommission.set_stage(storage, "settled")
    # 2. Nothing owed to the host.
    await pending.clear(app)
    owed = owed_to_host(state)
    if owed:
        raise PosError("DECOM_OWED", owed)
    decommission.set_stage(storage, "cleared")
    # 3. The slip the provider keeps.
    if ereceipt.prints(app.settings):
        await app.print_slip(receipt.decommission_lines(app.settings, online.now_text(app), state.batch,
                                                        state.last_trace), TITLE)
    else:   # no paper: the same facts on the screen, for the engineer's form
        await app.ui.message(TITLE, ["DECOM_NOTHING_OWED", ("BATCH_TRACE", "%06d" % state.batch,
                                                            "%06d" % state.last_trace)],
                             app.settings.ui_timeout_ms)
    decommission.set_stage(storage, "slip")
    # 4. The host lets the terminal go.
    trace = state.reserve_trace()
    fields = {11: "%06d" % trace, 41: app.settings.terminal_id, 42: app.settings.merchant_id,
              60: field60("00", state.batch, NETWORK_CODE)}
    try:
        reply = await app.host.exchange("0820", fields)
    except HostError as e:
        raise PosError(e.code)
    if reply[39] != "00":
        raise PosError(response_message_code(reply[39]), reply[39])
    decommission.set_stage(storage, "confirmed")
    # 5. The wipe: from here a power cut finishes it at boot.
    app.ui.show(TITLE, ["DECOM_WIPING"])
    decommission.wipe(storage, app.devices.keystore, app.log)
    app.log("decommissioned: keys and data wiped")
    # Nothing of this terminal's state is valid any more: it waits to be
    # powered off (and boots as from the factory).
    app.ui.show(TITLE, ["DECOM_DONE"])
    while True:
        try:
            await app.ui.next_event(3600 * 1000)
        except (TimedOut, PosError):
            pass


def owed_to_host(state):
    """How many things the host is still owed (0: none)."""
    return (len(state.pending_reversals()) + len(state.pending_refunds())
            + (1 if state.settling is not None else 0))
