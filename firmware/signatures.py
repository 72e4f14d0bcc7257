"""The e-receipt and e-signature of an approved transaction: kept on the
terminal, journaled, and uploaded to the host (0820, 60.3 = 800) until the
host has every packet. docs/ESIGN.md has the wire layout and the policy.

    capture(app, title, txn, needed, image)
                                 after the approval, before the receipts:
                                 the signature (or why there is none) journaled
    keep(app, txn, image)        the image in sig/<batch>-<trace>.sg, then a `sig` record
    await upload(app, txn)       right after the transaction: up to
                                 esign_upload_tries rounds, then the paper slip
    await send_owed(app)         before every online transaction and at boot
                                 (firmware/pending.clear): one round each, never blocks a sale
    stored_image(app, txn)       the image, if the terminal still has it (receipts, reprint)
    sweep(app)                   delete what is settled and uploaded (bounds the disk)

Journal (firmware/records.py): `sig` (the upload owed: FF30's mark; for a
signature on screen the image's size and SHA-256 and the packet size),
`sig_ack` (the host stored packet n), `sig_fail` (a failed round),
`sig_paper` (the paper slip instead), `sig_done`. The image itself never
sits in the journal with card data: it is written to its own file first,
durably, and only then does the journal say it exists.

Exactly once: a packet the host acknowledged is journaled (sig_ack) before
the next one goes; after a power cut only the packets not journaled go
again. One that the host stored but whose `sig_ack` a power cut lost goes
again with the same bytes (the same file, the same journal fields): a true
repeat, which the host answers 00 and stores once. An acknowledgement is
a MACed 00 whose F62 names the packet sent (esign_message.check_answer):
packet 1's 00 replayed as packet 2's is no answer.
"""

from hal.compat import hexlify, sha256
from hal.errors import DeviceError, StorageError
from firmware import esign_message, receipt
from firmware.errors import SIGN_ON_AGAIN, PosError
from firmware.host import HostError
from firmware.terminal import APPROVED, TXN_RESERVE

FOLDER = "sig"
# An encoded signature is a few hundred bytes (firmware/esign.py); anything
# much larger is not one, and 255 packets of the largest size must carry it.
MAX_IMAGE_BYTES = 16 * 1024
# Each signature leaves the journal's own reserve free: the records that
# close work (answers, reversals) must still fit after it.
RESERVE = TXN_RESERVE


def file_name(batch, trace):
    return "%06d-%06d.sg" % (batch, trace)


def _files(app):
    return app.devices.storage.folder(FOLDER)


# --- what a transaction needs ---------------------------------------------------------------

def upload_wanted(settings, txn):
    """Does this transaction's receipt go up to the host? With esign on
    (电签: the host keeps the e-receipt, signed or not), or whenever the
    cardholder is offered the QR e-receipt instead of paper (`paper`
    merchant_only or none: the code opens the host's copy). A paper
    terminal without esign uploads nothing."""
    if txn["state"] != APPROVED or txn["type"] not in esign_message.TYPE_CODES:
        return False
    from firmware.ereceipt import offered
    return bool(settings.esign) or offered(settings)


def no_signature_mark(txn):
    """FF30 of a receipt that goes up without a signature asked."""
    cvm = txn.get("cvm")
    if cvm == "no_pin_no_signature":
        return esign_message.NO_PIN_NO_SIGNATURE
    if cvm == "no_signature" or not txn.get("pin"):
        return esign_message.NO_SIGNATURE
    return esign_message.PIN


# --- capture: the signature, or why there is none ---------------------------------------------

async def capture(app, title, txn, needed, image):
    """Between the approval and the receipts (flows/common.finish): journal
    what the upload will carry. `needed`: the transaction needed a
    signature (flows/common.signature_needed); `image`: what the signing
    screen gave (None: none). Never raises for a signature: the money has
    moved, the worst case is a paper slip to sign. -> the txn as journaled."""
    if not upload_wanted(app.settings, txn) or txn.get("esign"):
        return txn
    if needed:
        problem = "NO_SIGNATURE" if image is None else keep(app, txn, image)
        if problem:
            mark = _mark_without_signature(app.settings)
            app.log("trace %06d: no e-signature (%s): %s", txn["trace"], problem,
                    "paper slip to sign" if mark == esign_message.PAPER else "no paper either: unsigned")
            _record(app, txn, "sig", mark=mark)
            if problem == "STORAGE_FULL":
                await app.ui.message(title, ["ESIGN_DISK_FULL"])
    else:
        _record(app, txn, "sig", mark=_mark_without_screen(app.settings, txn))
    return app.state.find(txn["batch"], txn["trace"])


def _mark_without_signature(settings):
    """FF30 when a signature was needed and the screen gave none: the
    merchant copy about to print has the line to sign on (W); a handset
    with no paper has nothing to sign on: the receipt says so (U), never
    "signed on paper"."""
    from firmware.ereceipt import paper_copies
    if receipt.MERCHANT_COPY in paper_copies(settings):
        return esign_message.PAPER
    return esign_message.UNSIGNED


def _mark_without_screen(settings, txn):
    """FF30 when no signature is asked on the screen: a paper terminal
    (esign off, QR e-receipt for the cardholder) has the cardholder sign
    the merchant copy's line (W) unless 小额双免 / 免签 said no signature."""
    from firmware.ereceipt import paper_copies
    if (not settings.esign and txn.get("cvm") not in ("no_pin_no_signature", "no_signature")
            and receipt.MERCHANT_COPY in paper_copies(settings)):
        return esign_message.PAPER
    return no_signature_mark(txn)


def recover(app, txn):
    """A transaction approved with no cardholder at the screen: at boot,
    one approved before a power cut whose signature was never journaled;
    a refund the host approved only when it was sent again
    (pending.resend_refunds). Its receipt still goes up, as signed on
    paper where a signature was needed (the merchant copy printed then has
    the line to sign on)."""
    if not upload_wanted(app.settings, txn) or txn.get("esign"):
        return
    from firmware.flows.common import signature_needed   # the signing screen's rule, kept there
    needed = signature_needed(app, txn)
    _record(app, txn, "sig", mark=_mark_without_signature(app.settings) if needed else no_signature_mark(txn))


def keep(app, txn, image):
    """Write the image durably to its own file, then journal that it
    exists. -> None when kept, else the reason it was not (the caller
    falls back to paper): STORAGE_FULL, STORAGE, BAD_IMAGE."""
    if not isinstance(image, (bytes, bytearray)) or not 0 < len(image) <= MAX_IMAGE_BYTES:
        return "BAD_IMAGE"
    image = bytes(image)
    packet_bytes = app.settings.esign_packet_bytes
    try:
        esign_message.packets(image, packet_bytes)   # it must fit the upload's 255 packets
    except esign_message.EsignMessageError:
        return "BAD_IMAGE"
    name = file_name(txn["batch"], txn["trace"])
    try:
        # The file first, then the record: a power cut between leaves a
        # file no record names, which sweep() deletes; never a record
        # naming a file that is not there.
        _files(app).write_atomic(name, image, RESERVE)
    except StorageError as e:
        app.log("signature of trace %06d not stored: %s", txn["trace"], e)
        return e.code
    try:
        app.state.record("sig", batch=txn["batch"], trace=txn["trace"], mark=esign_message.SIGNED,
                         size=len(image), sha256=hexlify(sha256(image)), step=packet_bytes)
    except StorageError as e:
        app.log("signature of trace %06d not journaled: %s", txn["trace"], e)
        _remove(app, name)
        return e.code
    return None


def _record(app, txn, kind, **fields):
    """Journal an e-signature record; a full disk is logged, not raised:
    the upload is a courtesy next to the money, which has moved."""
    try:
        app.state.record(kind, batch=txn["batch"], trace=txn["trace"], **fields)
        return True
    except StorageError as e:
        app.log("trace %06d: %s not journaled: %s", txn["trace"], kind, e)
        return False


def _remove(app, name):
    try:
        _files(app).remove(name)
    except StorageError:
        pass


# --- the image, for the upload and the receipts ---------------------------------------------

def stored_image(app, txn):
    """The signature image of `txn` if the terminal still has it intact
    (its size and SHA-256 as journaled), else None."""
    esign = txn.get("esign") or {}
    if not esign.get("sha256"):
        return None
    try:
        image = _files(app).read(file_name(txn["batch"], txn["trace"]))
    except StorageError:
        return None
    if image is None or len(image) != esign.get("size") or hexlify(sha256(image)) != esign["sha256"]:
        return None
    return image


def printable(app, txn):
    """-> (signature, feature code) for a receipt: the image decoded as
    (width, height, bits), or (None, None) if the terminal no longer has it."""
    image = stored_image(app, txn)
    if image is None:
        return None, None
    from firmware.esign import SignatureError, decode
    try:
        signature = decode(image)
    except SignatureError:
        return None, None
    return signature, esign_message.txn_feature_code(txn)


# --- the upload -----------------------------------------------------------------------------

def _packets(app, txn):
    """-> (F62 values, why not) for the upload as journaled: the image's
    packets for mark S (split as at capture), else the one empty packet."""
    esign = txn["esign"]
    if esign["mark"] != esign_message.SIGNED:
        return esign_message.packets(None, app.settings.esign_packet_bytes), None
    image = stored_image(app, txn)
    if image is None:
        return None, "SIGNATURE_LOST"
    return esign_message.packets(image, esign.get("step") or app.settings.esign_packet_bytes), None


def _tlvs(app, txn):
    """F55 of packet 1. The receipt code is the cardholder copy's (reprint
    0): the e-receipt stands for the cardholder's copy."""
    from firmware.gb2312 import encode
    code = receipt.code_from_mac(app.devices.keystore.receipt_mac(
        receipt.txn_verification_data(app.settings, txn, receipt.CARDHOLDER_COPY, 0)))
    return esign_message.receipt_tlvs(txn, encode(app.settings.merchant_name, app.gb_table),
                                      txn["esign"]["mark"], code)


async def _round(app, txn):
    """Every packet not yet acknowledged, once. -> None when the upload is
    complete, else (code, sent): why this round failed, and whether
    anything reached the host."""
    esign = txn["esign"]
    f62s, problem = _packets(app, txn)
    if problem:
        return problem, False
    try:
        tlvs = _tlvs(app, txn)
    except DeviceError as e:   # the key store cannot make the receipt code
        return e.code, False
    failed = None
    sent = False
    for number in range(1, len(f62s) + 1):
        if number in esign["acked"]:
            continue
        fields = esign_message.upload_fields(app.settings, txn, f62s[number - 1], tlvs if number == 1 else None)
        try:
            reply = await app.host.exchange(esign_message.UPLOAD_MTI, fields)
        except HostError as e:
            # No reply, a bad MAC, a forged or foreign reply: not an
            # acknowledgement, whatever its F39 says.
            if e.sign_on_again:
                app.signed_on = False
            if not e.sent:
                return e.code, sent   # the host is not there: the other packets would only wait too
            if e.code == "NO_REPLY":
                # Took the packet and never answered: each later packet
                # would wait its own timeout while the cardholder waits.
                # The next round sends every packet still unacknowledged.
                return e.code, True
            sent = True
            failed = e.code
            continue
        sent = True
        try:
            esign_message.check_answer(f62s[number - 1], reply)
        except esign_message.EsignMessageError as e:
            # MACed, but not this packet's answer (another packet's 0830
            # replayed, or a host that does not name the packet): no
            # answer at all, as a reply that fails the link's checks.
            app.log("e-signature trace %06d packet %d/%d: no answer: %s", txn["trace"], number, len(f62s), e)
            failed = "BAD_REPLY"
            continue
        rc = reply[39]
        if rc != "00":
            # 94: the host holds other bytes under this packet number; 96,
            # A0...: not stored. A failed try either way.
            app.log("e-signature trace %06d packet %d/%d answered %s", txn["trace"], number, len(f62s), rc)
            if rc in SIGN_ON_AGAIN:
                app.signed_on = False
            failed = "ESIGN_RC_" + rc
            continue
        app.state.record("sig_ack", batch=txn["batch"], trace=txn["trace"], packet=number, count=len(f62s))
    if failed:
        return failed, sent
    app.state.record("sig_done", batch=txn["batch"], trace=txn["trace"])
    app.log("e-receipt of trace %06d uploaded (%d packet(s), FF30 %s)", txn["trace"], len(f62s), esign["mark"])
    if txn["batch"] in app.state.settled_batches:
        _remove(app, file_name(txn["batch"], txn["trace"]))
    return None


async def _one_round(app, txn):
    """One round and what it leaves journaled. -> None when done, else
    (code, sent). The failed rounds are counted (sig_fail) until the paper
    slip; after it there is nothing more to fall back to, and the journal
    does not grow with each failure."""
    outcome = await _round(app, txn)
    if outcome is None:
        return None
    code = outcome[0]
    esign = txn["esign"]
    tries = app.settings.esign_upload_tries
    from firmware.ereceipt import prints
    if not prints(app.settings) and code != "SIGNATURE_LOST":
        # No paper to fall back to: the signature is kept and goes up when
        # the host can take it (before each sale, at boot). The failures
        # are counted up to the tries, so the journal does not grow with
        # every sale while the host is away.
        if esign.get("fails", 0) < tries:
            app.state.record("sig_fail", batch=txn["batch"], trace=txn["trace"], code=code)
        return outcome
    if not esign.get("paper"):
        app.state.record("sig_fail", batch=txn["batch"], trace=txn["trace"], code=code)
        txn = app.state.find(txn["batch"], txn["trace"])
        if txn["esign"]["fails"] >= tries or code == "SIGNATURE_LOST":
            await fall_back_to_paper(app, txn, code)
    return outcome


async def upload(app, txn, rounds=None):
    """Right after the transaction, the cardholder still at the counter:
    up to esign_upload_tries rounds; when they all fail, the paper slip to
    sign (fall_back_to_paper). -> True when the host has it all. Raises
    nothing but a StorageError (the journal cannot record an ack)."""
    rounds = app.settings.esign_upload_tries if rounds is None else rounds
    app.ui.show(txn["type"].upper(), ["ESIGN_SENDING"])
    for _ in range(rounds):
        txn = app.state.find(txn["batch"], txn["trace"])
        esign = txn.get("esign")
        if esign is None or esign.get("done"):
            return True
        if esign.get("paper"):
            return False   # fell back: what is left goes later (send_owed)
        if await _one_round(app, txn) is None:
            return True
    return False


async def send_owed(app):
    """Before every online transaction and at boot (pending.clear): one
    round for each upload owed. A failed upload never stops a sale (only a
    reversal owed does: money may be at the host; here only a receipt is);
    a host that cannot be reached, or does not answer, ends the pass at once."""
    for txn in app.state.pending_uploads():
        if not txn.get("esign") or txn["esign"].get("done"):
            continue
        app.ui.show("TERMINAL", ["ESIGN_SENDING"])
        try:
            outcome = await _one_round(app, txn)
        except (StorageError, PosError) as e:
            app.log("e-signature of trace %06d: %s", txn["trace"], e.code)
            return
        if outcome is not None and outcome[0] != "SIGNATURE_LOST" and (
                not outcome[1] or outcome[0] in ("NO_REPLY", "ESIGN_RC_96") or not app.signed_on):
            # Not reached, took the request and never answered (a reply
            # timeout each), its signature service out of order (96), or
            # keys to be made again: the others would fare the same, each
            # an exchange more before a sale.
            return


# --- the paper fallback -----------------------------------------------------------------------

async def fall_back_to_paper(app, txn, reason):
    """The upload failed its rounds: the slip for the cardholder to sign
    (the merchant keeps it), then the journal says so. A power cut between
    prints the slip again at the next fallback: two slips to sign, never
    none. The receipt TLVs still go up later, with FF30 W and no image:
    one packet, which the host takes over whatever packets of the image it
    holds (docs/ESIGN.md)."""
    from firmware.ereceipt import prints
    if prints(app.settings):
        await print_signing_slip(app, txn)
        _record(app, txn, "sig_paper", reason=reason)
    else:
        app.log("trace %06d: e-signature lost (%s), no paper to sign: unsigned", txn["trace"], reason)
        _record(app, txn, "sig_paper", reason=reason, mark=esign_message.UNSIGNED)
        return
    try:
        await app.ui.message(txn["type"].upper(), ["ESIGN_PAPER"])
    except PosError:
        pass


async def print_signing_slip(app, txn):
    from firmware.ereceipt import prints
    if not prints(app.settings):
        app.log("trace %06d: no paper for a slip to sign", txn["trace"])
        return
    try:
        await app.print_slip(receipt.signing_slip_lines(app.settings, txn), txn["type"].upper())
    except (DeviceError, PosError) as e:
        app.log("signing slip of trace %06d not printed: %s", txn["trace"], e.code)


# --- retention ---------------------------------------------------------------------------------

def _image_owed(state, batch, trace):
    """Does an upload still owed need this image (not one fallen back to paper)?"""
    if not state.upload_owed(batch, trace):
        return False
    txn = state.find(batch, trace)
    return txn is not None and (txn.get("esign") or {}).get("mark") == esign_message.SIGNED


def sweep(app):
    """Delete the signature files the terminal no longer needs: a file is
    kept while its batch is the current one (reprint shows the signature)
    or an upload still owed carries it; settled and uploaded (or fallen
    back to paper), it goes. Also removes a
    file no record names (a power cut between the file and its record).
    -> the number of files deleted."""
    state = app.state
    try:
        files = _files(app)
        names = files.names()
    except StorageError as e:
        app.log("signature files not swept: %s", e)
        return 0
    deleted = 0
    for name in names:
        try:
            batch, trace = int(name[0:6]), int(name[7:13])
            ours = len(name) == 16 and name[6] == "-" and name.endswith(".sg")
        except ValueError:
            ours = False
        if ours and (batch == state.batch or _image_owed(state, batch, trace)):
            continue
        files.remove(name)
        deleted += 1
    if deleted:
        app.log("signature files: %d deleted (settled and uploaded)", deleted)
    return deleted
