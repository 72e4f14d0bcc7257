"""Sign-on (签到): get fresh working keys and the batch number.

0800 with 60.3 = 003 (double-length keys). The reply's field 62 holds the
PIN key and the MAC key, each under the master key with a check value; the
key store checks both before it keeps either. At boot, pending reversals go
out first (DESIGN.md), so the terminal starts clean.
"""

from firmware import pending, qrpay
from firmware.errors import PosError, response_message_code
from firmware.host import HostError
from firmware.iso8583 import field60, parse_field60
from hal.errors import KeyStoreError

TITLE = "SIGNON"


def service_expiry(reply):
    """The end of the service term the host gives in F59 A9 (YYYYMMDD), or None."""
    if not reply.get(59):
        return None
    try:
        return qrpay.parse_field59(reply[59]).get("A9")
    except qrpay.QrPayError:
        return None


async def run(app, quiet=False):
    app.ui.show(TITLE, ["CONNECTING"])
    state = app.state
    trace = state.reserve_trace()
    fields = {11: "%06d" % trace, 41: app.settings.terminal_id, 42: app.settings.merchant_id,
              60: field60("00", state.batch, "003"), 63: "%03d" % int(app.operator)}
    try:
        reply = await app.host.exchange("0800", fields, with_mac=False)
    except HostError as e:
        raise PosError(e.code)
    rc = reply[39]
    if rc != "00":
        raise PosError(response_message_code(rc), rc)
    keys = reply.get(62) or b""
    if len(keys) < 40:
        raise PosError("KEYSTORE")
    try:
        app.devices.keystore.install_working_keys(keys[0:16], keys[16:20], keys[20:36], keys[36:40])
    except KeyStoreError:
        raise PosError("KEYSTORE")
    host_batch = None
    if reply.get(60):
        batch_digits = parse_field60(reply[60])["batch"]
        host_batch = int(batch_digits) if batch_digits else None
    if (host_batch and host_batch != state.batch and state.batch_is_empty()
            and host_batch not in state.settled_batches and state.settling is None):
        # An empty batch takes the host's number; a batch with transactions
        # keeps its own until it is settled; a settled batch is never
        # reopened; a batch whose settlement is open stays until it is done.
        state.record("batch", batch=host_batch)
    app.service_term.update(service_expiry(reply))
    app.signed_on = True
    app.log("signed on, batch %06d", state.batch)
    # Work left from before (a power cut, a dead link) goes before anything new.
    await pending.clear(app)
    if not quiet:
        await app.ui.message(TITLE, ["SIGNON_OK", ("BATCH_TRACE", "%06d" % state.batch,
                                                    "%06d" % state.last_trace)])
