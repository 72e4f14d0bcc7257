"""Electronic signature uploads (电子签名, 0820 with 60.3 = 800): one
packet in, one decision out, the signature's packets and receipt fields
kept in the ledger (tables signatures, signature_packets,
signature_receipt). The wire layout is docs/ESIGN.md; the packet and TLV
parsing is the firmware's own (firmware/esign_message.py), so terminal and
host read the same bytes the same way.

    code = store_packet(ledger, fields, terminal)     # "00" stored (or a true repeat)

A packet is refused with UploadRefused(code, why) before anything of it
is stored; the caller rolls the request's ledger transaction back. Every
0830 to an upload, whatever its F39, carries the packet header it answers
in F62, under the MAC (handlers.Acquirer.handle, esign_message.answer_f62).

Decisions, in order:
  30  F11, F4, F37 or F62 missing or malformed; packet 1 without F55 or
      with TLVs that do not parse; F55 on another packet; FF70 that is not
      the feature code of F15 + F37; the completed image does not decode
      (or a screen signature, FF30 = S, came without one)
  25  no approved transaction of this terminal at 60.2 batch + F11 trace
      with this RRN (F37), amount (F4) and merchant (F42)
  00  a true repeat (same packet number, same F62 and F55)
  00  a paper notice (one packet, no image, FF30 = W) for a signature
      already begun: the cardholder signed the paper slip (the terminal's
      fallback after failed uploads), recorded over what came before
  94  the same packet number with other bytes, or another packet count
  00  stored; once all packets are in, the image is reassembled and
      checked
"""

import datetime

from firmware import esign, esign_message, iso8583

APPROVED = "00"
ORIGINAL_NOT_FOUND = "25"
FORMAT_ERROR = "30"
DUPLICATE = "94"

# 60.3 of an upload.
UPLOAD_CODE = esign_message.UPLOAD_NETWORK_CODE
# The largest image the host decodes (a terminal sends 256 x 96): the
# header's size is checked before decoding allocates width x height.
MAX_WIDTH = 1024
MAX_HEIGHT = 512


class UploadRefused(Exception):
    def __init__(self, code, why):
        Exception.__init__(self, "%s: %s" % (code, why))
        self.code = code
        self.why = why


def is_upload(mti, fields):
    """An electronic signature upload (0820, 60.3 = 800)?"""
    return mti == "0820" and _network_code(fields) == UPLOAD_CODE


def _network_code(fields):
    try:
        return iso8583.parse_field60(fields.get(60) or "").get("network_code")
    except Exception:
        return None


def _digits(fields, n, length):
    value = fields.get(n)
    if value is None or len(value) != length or not value.isdigit():
        raise UploadRefused(FORMAT_ERROR, "F%d missing or not %d digits" % (n, length))
    return value


def _text(value):
    return bytes(value).decode("latin-1")


def store_packet(ledger, fields, terminal):
    """Decide one upload packet (MAC already checked) inside the caller's
    ledger transaction; -> F39, or raises UploadRefused."""
    batch = _batch(fields)
    trace = int(_digits(fields, 11, 6))
    amount = int(_digits(fields, 4, 12))
    rrn = fields.get(37)
    if not rrn:
        raise UploadRefused(FORMAT_ERROR, "no RRN (F37)")
    f62 = fields.get(62)
    if f62 is None:
        raise UploadRefused(FORMAT_ERROR, "no packet (F62)")
    try:
        number, count, chunk = esign_message.packet_header(f62)
    except ValueError as e:
        raise UploadRefused(FORMAT_ERROR, "F62: %s" % e)
    f55 = fields.get(55)
    tlvs = _receipt_fields(number, f55, fields)
    txn = ledger.find_by_trace(terminal["tid"], batch, trace)
    if (txn is None or txn["response_code"] != APPROVED or txn["status"] not in ("approved", "voided")
            or txn["rrn"] != rrn or txn["amount"] != amount or txn["mid"] != fields.get(42)):
        raise UploadRefused(ORIGINAL_NOT_FOUND, "no approved transaction at batch %06d trace %06d with"
                            " RRN %s and amount %d" % (batch, trace, rrn, amount))
    signature = ledger.signature_of(terminal["tid"], batch, trace)
    if signature is not None:
        stored = ledger.signature_packet(signature["id"], number)
        if stored is not None and stored["packet"] == f62 and stored["receipt_tlvs"] == f55:
            return APPROVED                      # a true repeat: stored once, answered again
        if count == 1 and not chunk and _cvm(tlvs) in (esign_message.PAPER, esign_message.UNSIGNED):
            _record_paper(ledger, signature, f62, f55, tlvs, _cvm(tlvs))
            return APPROVED
        if count != signature["packet_count"] or stored is not None:
            raise UploadRefused(DUPLICATE, "packet %d of %d conflicts with what is stored" % (number, count))
    else:
        signature_id = ledger.add_signature(txn_id=txn["id"], tid=terminal["tid"], batch=batch, trace=trace,
                                            rrn=rrn, packet_count=count)
        signature = ledger.signature_by_id(signature_id)
    ledger.add_signature_packet(signature["id"], number, f62, f55)
    if tlvs is not None:
        ledger.set_signature_receipt(signature["id"], tlvs)
        ledger.update_signature(signature["id"], receipt_tlvs=f55, cvm=_cvm(tlvs),
                                paper=1 if _cvm(tlvs) == esign_message.PAPER else 0)
    packets = ledger.signature_packets(signature["id"])
    if len(packets) == count:
        _complete(ledger, ledger.signature_by_id(signature["id"]), packets)
    return APPROVED


def _batch(fields):
    text = fields.get(60) or ""
    try:
        batch = iso8583.parse_field60(text).get("batch")
    except Exception:
        batch = None
    if not batch or not batch.isdigit():
        raise UploadRefused(FORMAT_ERROR, "F60 without a batch (60.2)")
    return int(batch)


def _receipt_fields(number, f55, fields):
    """Packet 1's F55, parsed (None for the other packets)."""
    if number != 1:
        if f55 is not None:
            raise UploadRefused(FORMAT_ERROR, "F55 on packet %d (packet 1 only)" % number)
        return None
    if not f55:
        raise UploadRefused(FORMAT_ERROR, "packet 1 without the receipt fields (F55)")
    try:
        tlvs = esign_message.parse_tlvs(f55)
    except ValueError as e:
        raise UploadRefused(FORMAT_ERROR, "F55: %s" % e)
    feature = esign_message.tlv_value(tlvs, esign_message.FEATURE_CODE)
    if feature is not None:
        try:
            expected = esign.feature_code(fields.get(15) or "", fields.get(37) or "")
        except esign.SignatureError as e:
            raise UploadRefused(FORMAT_ERROR, "feature code without F15/F37: %s" % e)
        if _text(feature) != expected:
            raise UploadRefused(FORMAT_ERROR, "FF70 %r is not the feature code %s of F15 + F37"
                                % (_text(feature), expected))
    return tlvs


def _cvm(tlvs):
    value = esign_message.tlv_value(tlvs or [], esign_message.CVM)
    return _text(value) if value is not None else None


def _record_paper(ledger, signature, f62, f55, tlvs, mark):
    """The cardholder signed the paper slip (mark W), or the terminal lost
    the image and had no paper to sign (U). Packets of an unfinished image
    are dropped (the paper is the signature now); a finished image is kept
    beside the mark. The notice's receipt fields replace the earlier
    ones."""
    if signature["completed_at"] is None:
        ledger.drop_signature_packets(signature["id"])
        ledger.add_signature_packet(signature["id"], 1, f62, f55)
        ledger.update_signature(signature["id"], packet_count=1, completed_at=_now())
    ledger.set_signature_receipt(signature["id"], tlvs)
    ledger.update_signature(signature["id"], receipt_tlvs=f55, cvm=mark, paper=1 if mark == esign_message.PAPER else 0)


def _complete(ledger, signature, packets):
    """All packets in: reassemble and check the image. One that does not
    decode refuses the packet that completed it (the terminal will fail
    its tries and fall back to paper)."""
    image = esign_message.reassemble([p["packet"] for p in packets])
    if not image:
        if signature["cvm"] == esign_message.SIGNED:
            raise UploadRefused(FORMAT_ERROR, "a screen signature (FF30 S) without an image")
        ledger.update_signature(signature["id"], completed_at=_now())
        return
    width, height = (image[3] << 8 | image[4], image[5] << 8 | image[6]) if len(image) >= 7 else (0, 0)
    if not (0 < width <= MAX_WIDTH and 0 < height <= MAX_HEIGHT):
        raise UploadRefused(FORMAT_ERROR, "a signature image of %d x %d (at most %d x %d)"
                            % (width, height, MAX_WIDTH, MAX_HEIGHT))
    try:
        width, height, _bits = esign.decode(image)
    except esign.SignatureError as e:
        raise UploadRefused(FORMAT_ERROR, "the signature image does not decode: %s" % e)
    ledger.update_signature(signature["id"], image=image, width=width, height=height, completed_at=_now())


def _now():
    return datetime.datetime.now().isoformat(timespec="milliseconds")


def receipt_of(ledger, tid, rrn):
    """The e-receipt's data for a completed signature of the transaction
    with this RRN (of terminal `tid`, when given), or None. A reversed
    transaction has none: it never happened, and its page answers like an
    unknown one. -> {"txn", "signature", "fields": {tag: value bytes},
    "original": the sale a void or refund undoes (None for a sale),
    "voids", "refunds": the voids and refunds of this transaction that
    stand (oldest first), "refunded": its refunded total (fen)}.
    Several matches (an RRN on two terminals, with tid None) raise
    LookupError."""
    found = []
    for txn in ledger.find_receipt_transactions(rrn, tid):
        if txn["status"] == "reversed":
            continue
        signature = ledger.signature_of(txn["tid"], txn["batch"], txn["trace"])
        if signature is not None and signature["completed_at"] is not None:
            found.append((txn, signature))
    if not found:
        return None
    if len(found) > 1:
        raise LookupError("RRN %s is on terminals %s: name one" % (rrn, ", ".join(t["tid"] for t, _ in found)))
    txn, signature = found[0]
    later = ledger.standing_voids_and_refunds(txn["id"])
    return {"txn": txn, "signature": signature, "fields": dict(ledger.signature_receipt(signature["id"])),
            "original": ledger.transaction_by_id(txn["orig_id"]) if txn["orig_id"] is not None else None,
            "voids": [row for row in later if row["kind"] == "void"],
            "refunds": [row for row in later if row["kind"] == "refund"],
            "refunded": ledger.refunded(txn["id"])}
