"""Sign-on (签到): get fresh working keys and the batch number.

0800 with 60.3 = 004 (PIN key, MAC key and track data key; 003 without the
track key when the acquirer does not encrypt tracks: setting
track_encryption). The reply's field 62 holds each key under the master
key with a check value. Nothing is installed until every check value
matches and, where the host MACs the 0810, that MAC verifies with the new
MAC key. A terminal still holding the published test master key signs on
only with the setting test_keys (the emulator's): anyone could pose as
its host. At boot, pending reversals go out first (DESIGN.md), so the
terminal starts clean.

Once the keys are in, the terminal asks for its parameters (0800, 60.3 =
360, MACed both ways: firmware/termparams.py has field 62). Whatever goes
wrong there is logged and the parameters in force stay: the sign-on is
done either way.
"""

from firmware import iso8583, pending, qrpay, termparams
from firmware.errors import PosError, response_message_code
from firmware.host import HostError
from firmware.iso8583 import field60, parse_field60
from firmware.settings import SettingsError
from hal.errors import KeyStoreError, StorageError

# 60.3 of the sign-on request, and the length of F62 it brings.
TWO_KEYS = "003"
THREE_KEYS = "004"
KEYS_FIELD_LENGTH = {TWO_KEYS: 40, THREE_KEYS: 60}


def check_master_key(app):
    """Refuse to sign on without a master key, or with the public test key
    outside test mode."""
    keystore = app.devices.keystore
    try:
        if not keystore.has_master_key():
            raise PosError("NO_MASTER_KEY")
        if keystore.uses_test_master_key() and not app.settings.test_keys:
            app.log("sign-on refused: the master key is the public test key (setting test_keys is off)")
            raise PosError("TEST_MASTER_KEY")
    except KeyStoreError as e:
        app.log("key store: %s", e)
        raise PosError("KEYSTORE")


def install_keys(app, reply, network_code):
    """Check and install the keys of the 0810 (F62), or raise PosError
    with the old keys left in force."""
    keys = reply.get(62) or b""
    if len(keys) != KEYS_FIELD_LENGTH[network_code]:
        app.log("sign-on reply F62 has %d bytes, expected %d", len(keys), KEYS_FIELD_LENGTH[network_code])
        raise PosError("KEYSTORE")
    signed = None
    if 64 in reply:
        signed = (iso8583.mac_data("0810", reply), reply[64], app.settings.mac_algorithm)
    track = (keys[40:56], keys[56:60]) if network_code == THREE_KEYS else (None, None)
    try:
        app.devices.keystore.install_working_keys(keys[0:16], keys[16:20], keys[20:36], keys[36:40],
                                                  track[0], track[1], signed=signed,
                                                  algorithm=app.settings.key_algorithm)
    except KeyStoreError as e:
        app.log("sign-on keys refused: %s", e)
        raise PosError("KEYSTORE")

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
    check_master_key(app)
    state = app.state
    trace = state.reserve_trace()
    network_code = THREE_KEYS if app.settings.track_encryption else TWO_KEYS
    fields = {11: "%06d" % trace, 41: app.settings.terminal_id, 42: app.settings.merchant_id,
              60: field60("00", state.batch, network_code), 63: "%03d" % int(app.operator)}
    try:
        reply = await app.host.exchange("0800", fields, with_mac=False)
    except HostError as e:
        raise PosError(e.code)
    rc = reply[39]
    if rc != "00":
        raise PosError(response_message_code(rc), rc)
    install_keys(app, reply, network_code)
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
    await download_parameters(app)
    # Work left from before (a power cut, a dead link) goes before anything new.
    await pending.clear(app)
    if not quiet:
        await app.ui.message(TITLE, ["SIGNON_OK", ("BATCH_TRACE", "%06d" % state.batch,
                                                    "%06d" % state.last_trace)])


async def download_parameters(app):
    """The acquirer's parameters (参数下载), applied whole or not at all.
    Never raises: a sign-on is complete without them."""
    state = app.state
    try:
        trace = state.reserve_trace()
    except StorageError as e:
        app.log("parameter download: no trace number (%s), parameters unchanged", e.code)
        return
    fields = {11: "%06d" % trace, 41: app.settings.terminal_id, 42: app.settings.merchant_id,
              60: field60("00", state.batch, termparams.NETWORK_CODE), 63: "%03d" % int(app.operator)}
    try:
        reply = await app.host.exchange("0800", fields)
    except HostError as e:
        # No answer, or one without a valid MAC: not the acquirer's word.
        app.log("parameter download: no usable answer (%s), parameters unchanged", e.code)
        return
    if reply[39] != "00":
        app.log("parameter download: host answered %s, parameters unchanged", reply[39])
        return
    try:
        values = termparams.parse_field62(reply.get(62) or b"")
        app.settings.set_acquirer(values)
    except (termparams.ParamsError, SettingsError) as e:
        app.log("parameter download refused, parameters unchanged: %s", e)
        return
    except StorageError as e:
        app.log("parameter download not kept (%s), parameters unchanged", e.code)
        return
    app.log("parameters from the acquirer: %s", termparams.describe(values))
