"""The e-signature upload on the wire (docs/ESIGN.md, the lead's spec):
plain functions over bytes, shared by the terminal and the host simulator.

    tlvs = receipt_tlvs(txn, merchant_gb, mark, code)   # F55 of packet 1
    parse_tlvs(tlvs)               -> [(0xFF00, b"..."), ...]
    packets(image, 400)            -> [F62 of packet 1, F62 of packet 2, ...]
    packet_header(f62)             -> (number, count, chunk)
    reassemble([f62, ...])         -> the image (b"" for an upload without one)
    masked_f2("6222021234567890")  -> "6222020000007890"
    upload_fields(settings, txn, f62, tlvs)  -> the fields of one 0820 (less F64)
    answer_f62(f62)                -> F62 of the host's 0830: the packet header it answers
    check_answer(f62, reply)       -> (number, count), or EsignMessageError: the 0830
                                      does not name the packet it is said to answer

One 0820 a packet; every packet of one signature carries the
transaction's own trace (F11), packet 1 also the receipt TLVs (F55).
F62 = packet number (1 byte, from 1) + packet count (1 byte) + the image's
bytes [(n-1)*P : n*P]. An upload without an image (小额双免 with no paper,
signed on paper) is the one packet 01 01.

The host's 0830 echoes the packet header (F62's first 2 bytes) in its own
F62, under its MAC: every packet of one signature carries the same F4,
F11, F41, F42, so without it packet 1's MACed 00 would pass for packet 2's.

Receipt TLVs: tag 2 bytes, length 1 byte (0..127), value. Unknown tags are
the reader's to skip. Every malformed input to a parse function raises
EsignMessageError (a ValueError) saying what and where; nothing else escapes.
"""

from hal.compat import unhexlify
from firmware.esign import SignatureError, feature_code
from firmware.iso8583 import FIELDS, field60

UPLOAD_MTI = "0820"
UPLOAD_TYPE = "07"          # 60.1
UPLOAD_NETWORK_CODE = "800"  # 60.3
HEADER_BYTES = 2            # packet number, packet count
MAX_F55 = FIELDS[55][1]     # 255
MAX_F62 = FIELDS[62][1]     # 512
MAX_PACKETS = 255
MAX_TLV_VALUE = 127
MAX_MERCHANT_NAME = 40      # GB2312 bytes of FF00

# FF30: how the cardholder verified
PIN = "P"                 # online PIN, no signature asked
SIGNED = "S"              # signed on the screen: the image follows in F62
NO_PIN_NO_SIGNATURE = "N"  # 小额双免
NO_SIGNATURE = "O"        # 免签
PAPER = "W"               # signed on a paper slip: no image
UNSIGNED = "U"            # needed a signature, got none: not on the screen, no paper to sign
MARKS = (PIN, SIGNED, NO_PIN_NO_SIGNATURE, NO_SIGNATURE, PAPER, UNSIGNED)

# The tags of the receipt TLVs (F55 of packet 1)
MERCHANT_NAME = 0xFF00
TXN_TYPE = 0xFF01
OPERATOR = 0xFF02
ENTRY = 0xFF03
CARD_NO = 0xFF04
EXPIRY = 0xFF05
BATCH = 0xFF06
DATE_TIME = 0xFF07
AUTH_CODE = 0xFF08
ORIG_TRACE = 0xFF09
ORIG_RRN_DATE = 0xFF0A
AID = 0xFF20
TC = 0xFF21
CVM = 0xFF30
RECEIPT_CODE = 0xFF40
FEATURE_CODE = 0xFF70

TYPE_CODES = {"sale": "22", "void": "23", "refund": "25"}
ENTRY_MARKS = {"swipe": "S", "insert": "I", "tap": "C"}
QR_ENTRY = "Q"


class EsignMessageError(ValueError):
    pass


# --- receipt TLVs (F55) ---------------------------------------------------------------

def build_tlvs(items):
    """[(tag, value bytes), ...] -> bytes. A tag is 2 bytes, a value at most 127."""
    out = bytearray()
    for tag, value in items:
        if not 0 <= tag <= 0xFFFF:
            raise EsignMessageError("tag %r is not 2 bytes" % (tag,))
        value = bytes(value)
        if len(value) > MAX_TLV_VALUE:
            raise EsignMessageError("tag %04X: %d bytes, at most %d" % (tag, len(value), MAX_TLV_VALUE))
        out += bytes((tag >> 8, tag & 0xFF, len(value)))
        out += value
    return bytes(out)


def parse_tlvs(data):
    """bytes -> [(tag int, value bytes), ...], in order (unknown tags too:
    the caller skips what it does not know)."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise EsignMessageError("TLVs must be bytes, got %s" % type(data).__name__)
    data = bytes(data)
    items = []
    pos = 0
    while pos < len(data):
        if pos + 3 > len(data):
            raise EsignMessageError("TLV at byte %d: tag and length cut short (%d bytes left)"
                                    % (pos, len(data) - pos))
        tag = (data[pos] << 8) | data[pos + 1]
        size = data[pos + 2]
        if size > MAX_TLV_VALUE:
            raise EsignMessageError("TLV %04X at byte %d: length %d is over %d" % (tag, pos, size, MAX_TLV_VALUE))
        start = pos + 3
        if start + size > len(data):
            raise EsignMessageError("TLV %04X at byte %d: %d bytes of value, only %d left"
                                    % (tag, pos, size, len(data) - start))
        items.append((tag, data[start:start + size]))
        pos = start + size
    return items


def tlv_value(items, tag):
    """The value of the first item with `tag` in parse_tlvs() output, or None."""
    for item_tag, value in items:
        if item_tag == tag:
            return value
    return None


def cut_gb(data, limit=MAX_MERCHANT_NAME):
    """GB2312 bytes cut to `limit` without splitting a two-byte character."""
    data = bytes(data)
    end = 0
    while end < len(data):
        step = 2 if data[end] >= 0x80 else 1
        if end + step > limit:
            break
        end += step
    return data[:end]


def settlement_date(txn):
    """F15 of the upload and the feature code's date: the settlement date
    of the host's reply, else the transaction's own local date (MMDD)."""
    return txn.get("settle_date") or txn["time"][4:8]


def txn_feature_code(txn):
    """The feature code (特征码) of a transaction, or None without an RRN."""
    rrn = txn.get("rrn")
    if not rrn:
        return None
    try:
        return feature_code(settlement_date(txn), rrn)
    except SignatureError:
        return None


def receipt_tlvs(txn, merchant_gb, mark, code=None):
    """F55 of packet 1: the receipt as TLVs. `txn` is the journal's
    transaction, `merchant_gb` the merchant's name in GB2312 (cut to 40
    bytes here), `mark` the FF30 letter, `code` the receipt code (12 digits)."""
    if mark not in MARKS:
        raise EsignMessageError("FF30 %r is none of %s" % (mark, "".join(MARKS)))
    items = [(MERCHANT_NAME, cut_gb(merchant_gb)),
             (TXN_TYPE, TYPE_CODES[txn["type"]].encode()),
             (OPERATOR, (txn.get("op") or "01").encode())]
    if txn.get("order"):
        items.append((ENTRY, QR_ENTRY.encode()))
    elif txn.get("mode") in ENTRY_MARKS:
        items.append((ENTRY, ENTRY_MARKS[txn["mode"]].encode()))
    if txn.get("pan"):
        items.append((CARD_NO, txn["pan"].encode()))
    if txn.get("exp"):
        items.append((EXPIRY, txn["exp"].encode()))
    items.append((BATCH, ("%06d" % txn["batch"]).encode()))
    items.append((DATE_TIME, txn["time"].encode()))
    if txn.get("auth"):
        items.append((AUTH_CODE, txn["auth"].encode()))
    orig = txn.get("orig") or {}
    if txn["type"] == "void" and "trace" in orig:
        items.append((ORIG_TRACE, ("%06d" % orig["trace"]).encode()))
    if txn["type"] == "refund" and orig.get("rrn"):
        items.append((ORIG_RRN_DATE, (orig["rrn"] + (orig.get("date") or "")).encode()))
    if txn.get("aid"):
        items.append((AID, unhexlify(txn["aid"])))
    if txn.get("tc"):
        items.append((TC, unhexlify(txn["tc"])))
    items.append((CVM, mark.encode()))
    if code:
        items.append((RECEIPT_CODE, code.encode()))
    feature = txn_feature_code(txn)
    if feature:
        items.append((FEATURE_CODE, feature.encode()))
    data = build_tlvs(items)
    if len(data) > MAX_F55:
        raise EsignMessageError("receipt TLVs of %d bytes do not fit F55 (%d)" % (len(data), MAX_F55))
    return data


# --- packets (F62) ----------------------------------------------------------------------

def packets(image, size):
    """The image cut into F62 values of `size` image bytes at most, each
    with its 2-byte header. No image (None or b""): the one packet 01 01."""
    if size < 1 or size + HEADER_BYTES > MAX_F62:
        raise EsignMessageError("packet size %d: 1 to %d image bytes" % (size, MAX_F62 - HEADER_BYTES))
    image = bytes(image or b"")
    if not image:
        return [bytes((1, 1))]
    count = (len(image) + size - 1) // size
    if count > MAX_PACKETS:
        raise EsignMessageError("an image of %d bytes needs %d packets of %d, at most %d"
                                % (len(image), count, size, MAX_PACKETS))
    return [bytes((n + 1, count)) + image[n * size:(n + 1) * size] for n in range(count)]


def packet_header(f62):
    """F62 -> (number, count, chunk). Number 1..count; a chunk may be empty
    only in the one packet of an upload without an image."""
    if not isinstance(f62, (bytes, bytearray, memoryview)):
        raise EsignMessageError("F62 must be bytes, got %s" % type(f62).__name__)
    f62 = bytes(f62)
    if len(f62) < HEADER_BYTES:
        raise EsignMessageError("F62 of %d bytes has no packet header" % len(f62))
    number, count, chunk = f62[0], f62[1], f62[HEADER_BYTES:]
    if count == 0 or not 1 <= number <= count:
        raise EsignMessageError("packet %d of %d does not exist" % (number, count))
    if not chunk and count > 1:
        raise EsignMessageError("packet %d of %d carries no image bytes" % (number, count))
    return number, count, chunk


def reassemble(f62s):
    """The image from all the F62 values of one upload (any order, each
    number once): b"" for an upload without an image."""
    chunks = {}
    count = None
    for f62 in f62s:
        number, this_count, chunk = packet_header(f62)
        if count is None:
            count = this_count
        elif this_count != count:
            raise EsignMessageError("packet %d says %d packets, another said %d" % (number, this_count, count))
        if number in chunks:
            raise EsignMessageError("packet %d twice" % number)
        chunks[number] = chunk
    if count is None:
        raise EsignMessageError("no packets")
    if len(chunks) != count:
        missing = [n for n in range(1, count + 1) if n not in chunks]
        raise EsignMessageError("packets %s of %d missing" % (",".join([str(n) for n in missing]), count))
    return b"".join([chunks[n] for n in range(1, count + 1)])


# --- the 0820 ----------------------------------------------------------------------------

def masked_f2(pan):
    """The card number as F2 of an upload takes it: first 6 and last 4
    digits, zeros between (BCD has no '*'). Accepts the clear number or the
    journal's masked one (622202******1234)."""
    if not pan:
        raise EsignMessageError("no card number")
    if len(pan) > FIELDS[2][1]:
        raise EsignMessageError("card number of %d digits" % len(pan))
    if len(pan) <= 10:
        kept = "0" * max(len(pan) - 4, 0) + pan[-4:]
    else:
        kept = pan[:6] + "0" * (len(pan) - 10) + pan[-4:]
    if kept.strip("0123456789"):
        raise EsignMessageError("card number %r is not digits where they are kept" % (pan[:6] + "..." + pan[-4:],))
    return kept


def upload_fields(settings, txn, f62, tlvs=None):
    """The fields of one 0820 (the host link adds F64): `f62` this
    packet's F62, `tlvs` the receipt TLVs (packet 1 only, else None)."""
    fields = {4: "%012d" % txn["amount"], 11: "%06d" % txn["trace"], 15: settlement_date(txn),
              41: settings.terminal_id, 42: settings.merchant_id,
              60: field60(UPLOAD_TYPE, txn["batch"], UPLOAD_NETWORK_CODE), 62: bytes(f62)}
    if txn.get("pan") and not txn.get("order"):
        fields[2] = masked_f2(txn["pan"])
    if txn.get("rrn"):
        fields[37] = txn["rrn"]
    if tlvs is not None:
        fields[55] = bytes(tlvs)
    return fields


# --- the 0830 ----------------------------------------------------------------------------

def answer_f62(f62):
    """F62 of the host's 0830 to an upload whose F62 was `f62`: its packet
    header (2 bytes) as it came, so that the reply's MAC covers which
    packet it answers."""
    return bytes(f62)[:HEADER_BYTES]


def check_answer(f62, reply):
    """Does the 0830 `reply` (its fields, MAC checked by the host link)
    answer the packet whose F62 was `f62`? -> (number, count), or
    EsignMessageError saying what it names instead. An answer that names
    no packet is none: the same F4, F11, F41, F42 are in every packet of
    the signature, so only F62 tells packet 1's 00 from packet 2's."""
    number, count, _chunk = packet_header(f62)
    echoed = reply.get(62)
    if echoed is None:
        raise EsignMessageError("the 0830 names no packet (no F62), sent packet %d of %d" % (number, count))
    if not isinstance(echoed, (bytes, bytearray, memoryview)):
        raise EsignMessageError("the 0830's F62 is not bytes: %s" % type(echoed).__name__)
    echoed = bytes(echoed)
    if echoed != answer_f62(f62):
        if len(echoed) == HEADER_BYTES:
            named = "packet %d of %d" % (echoed[0], echoed[1])
        else:
            named = "an F62 of %d bytes" % len(echoed)
        raise EsignMessageError("the 0830 names %s, sent packet %d of %d" % (named, number, count))
    return number, count
