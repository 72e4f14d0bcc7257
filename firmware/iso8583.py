"""ISO 8583 as UnionPay-style POS terminals speak it (see DESIGN.md, "Host
protocol"): plain functions over bytes.

    pack(mti, fields) -> body           unpack(body) -> (mti, fields)
    mac_data(mti, fields) -> bytes      what F64 covers
    frame(body, tpdu, header) -> bytes  unframe(payload) -> (tpdu, header, body)
    reply_tpdu(tpdu) -> bytes           field60(...) -> str   parse_field60(str) -> dict

Body: MTI (2 bytes BCD), primary bitmap (8 bytes, no secondary bitmap),
fields in number order. Field values: numeric and track fields are str of
digits (tracks use "=" for the separator, nibble D on the wire); character
fields are str; binary fields are bytes.

Encodings, from the field table below:
- numeric (n) and track (z) data is BCD, two digits a byte. A fixed field of
  odd length is right-aligned with a leading 0 nibble (F23 "001" -> 00 01),
  except F22, left-aligned (F22 "051" -> 05 10). Variable numeric data of odd
  length is left-aligned with a trailing pad nibble: 0 when we write, 0 or F
  accepted when we read (acquirers differ).
- character data (an, ans) is one byte a character. Bytes 0x80..0xFF, which
  some acquirers put in F59/F63 (GBK text), come back as U+0080..U+00FF, one
  character a byte, so they survive a round trip unchanged.
- LLVAR lengths are 1 BCD byte, LLLVAR 2 BCD bytes; they count digits for
  n/z data, characters for an/ans, bytes for b.

Every malformed input makes unpack() raise Iso8583Error (a ValueError) with
the field and the byte offset in its message; nothing else escapes.
"""

from binascii import hexlify, unhexlify

# Field number -> (type, length, length-prefix digits, description).
# Type: "n" numeric BCD, "z" track data BCD ('=' as nibble D), "a" character
# (an/ans), "b" binary. Prefix 0 is a fixed field of exactly `length`, 2 is
# LLVAR and 3 LLLVAR with `length` the maximum. Lengths per the UnionPay POS
# terminal specification (tags as printed there in the comments).
FIELDS = {
    2: ("n", 19, 2, "primary account number"),            # n..19 LLVAR
    3: ("n", 6, 0, "processing code"),                     # n6
    4: ("n", 12, 0, "amount, fen"),                        # n12
    11: ("n", 6, 0, "trace number"),                       # n6
    12: ("n", 6, 0, "local time hhmmss"),                  # n6
    13: ("n", 4, 0, "local date MMDD"),                    # n4
    14: ("n", 4, 0, "expiry YYMM"),                        # n4
    15: ("n", 4, 0, "settlement date MMDD"),               # n4
    22: ("n", 3, 0, "entry mode"),                         # n3, left-aligned
    23: ("n", 3, 0, "card sequence number"),               # n3
    25: ("n", 2, 0, "service condition code"),             # n2
    26: ("n", 2, 0, "PIN capture code"),                   # n2
    32: ("n", 11, 2, "acquirer institution"),              # n..11 LLVAR
    35: ("z", 37, 2, "track 2"),                           # z..37 LLVAR
    36: ("z", 104, 3, "track 3"),                          # z..104 LLLVAR
    37: ("a", 12, 0, "retrieval reference number"),        # an12
    38: ("a", 6, 0, "authorisation code"),                 # an6
    39: ("a", 2, 0, "response code"),                      # an2
    41: ("a", 8, 0, "terminal id"),                        # ans8
    42: ("a", 15, 0, "merchant id"),                       # ans15
    44: ("a", 25, 2, "additional response data"),          # an..25 LLVAR
    48: ("n", 322, 3, "additional data (settlement totals)"),  # n..322 LLLVAR
    49: ("a", 3, 0, "currency code"),                      # an3
    52: ("b", 8, 0, "PIN block"),                          # b64
    53: ("n", 16, 0, "security control"),                  # n16
    54: ("a", 20, 3, "balance"),                           # an..20 LLLVAR
    55: ("b", 255, 3, "IC data"),                          # b..255 LLLVAR
    59: ("a", 600, 3, "extended data (QR, ...)"),          # ans..600 LLLVAR
    60: ("n", 19, 3, "reserved: type, batch, network code"),  # n..19 LLLVAR
    61: ("n", 29, 3, "original transaction"),              # n..29 LLLVAR
    62: ("b", 512, 3, "reserved private (keys, ...)"),     # b..512 LLLVAR
    63: ("a", 163, 3, "reserved private (operator, ...)"),  # ans..163 LLLVAR
    64: ("b", 8, 0, "MAC"),                                # b64
}

# Fixed numeric fields of odd length that are left-aligned (the pad nibble
# trails); every other fixed odd-length numeric field is right-aligned.
LEFT_ALIGNED = (22,)

TPDU_LENGTH = 5
HEADER_LENGTH = 6
DIGITS = "0123456789"
TRACK_CHARS = "0123456789="


class Iso8583Error(ValueError):
    """A message that cannot be packed or unpacked. `field` is the field
    number (or "MTI", "bitmap", "frame"), `offset` the byte offset in the
    body where the problem is (None when packing)."""

    def __init__(self, message, field=None, offset=None):
        where = ""
        if field is not None:
            where = "field %s" % field
        if offset is not None:
            where += (" at " if where else "at ") + "offset %d" % offset
        super().__init__(where + ": " + message if where else message)
        self.field = field
        self.offset = offset


# --- BCD and character helpers --------------------------------------------------
# The codec runs for every message on a handset, so the helpers lean on what
# both interpreters do in C: hexlify, fromhex, str.strip(chars), max(bytes).
# str.strip(DIGITS) leaves something exactly when a character is not a digit.

def _hex_of(data):
    return hexlify(data).decode().upper()


def _decode_chars(data):
    if data and max(data) >= 0x80:
        return "".join([chr(c) for c in data])
    return bytes(data).decode()


def _encode_chars(text, field):
    data = text.encode()
    if len(data) == len(text):
        return data     # ASCII: one byte a character already
    for ch in text:
        if ord(ch) > 0xFF:
            raise Iso8583Error("character %r does not fit in one byte" % ch, field)
    return bytes([ord(ch) for ch in text])


def _is_digits(text, allow_separator):
    return not text.strip(TRACK_CHARS if allow_separator else DIGITS)


def _length_prefix(count, prefix):
    """LLVAR (prefix 2) as 1 BCD byte, LLLVAR (3) as 2."""
    tens = count // 10
    if prefix == 2:
        return bytes(((tens << 4) | (count % 10),))
    return bytes((count // 100, ((tens % 10) << 4) | (count % 10)))


# --- pack ---------------------------------------------------------------------------

def _pack_field(number, value):
    kind, length, prefix, _ = FIELDS[number]
    if kind == "b":
        if not isinstance(value, (bytes, bytearray)):
            raise Iso8583Error("binary field needs bytes, got %s" % type(value).__name__, number)
        data = bytes(value)
        count = len(data)
    elif kind == "a":
        if not isinstance(value, str):
            raise Iso8583Error("character field needs str, got %s" % type(value).__name__, number)
        data = _encode_chars(value, number)
        count = len(data)
    else:
        if not isinstance(value, str):
            raise Iso8583Error("numeric field needs a str of digits, got %s" % type(value).__name__, number)
        if value.strip(TRACK_CHARS if kind == "z" else DIGITS):
            raise Iso8583Error("%r is not %s" % (value, "digits and '='" if kind == "z" else "digits"), number)
        count = len(value)
        nibbles = value.replace("=", "D") if kind == "z" else value
        if count & 1:
            if prefix == 0 and number not in LEFT_ALIGNED:
                nibbles = "0" + nibbles
            else:
                nibbles = nibbles + "0"
        data = unhexlify(nibbles)
    if prefix == 0:
        if count != length:
            raise Iso8583Error("length %d, the field is fixed at %d" % (count, length), number)
        return data
    if count > length:
        raise Iso8583Error("length %d is over the maximum %d" % (count, length), number)
    return _length_prefix(count, prefix) + data


def _pack(mti, fields, for_mac):
    if not isinstance(mti, str) or len(mti) != 4 or mti.strip(DIGITS):
        raise Iso8583Error("MTI must be 4 digits, got %r" % (mti,), "MTI")
    numbers = []
    for number in fields:
        if not isinstance(number, int) or number not in FIELDS:
            raise Iso8583Error("not in the field table", number)
        if not (for_mac and number == 64):
            numbers.append(number)
    numbers.sort()
    bitmap = 1 if for_mac else 0
    parts = [unhexlify(mti), None]
    for number in numbers:
        bitmap |= 1 << (64 - number)
        parts.append(_pack_field(number, fields[number]))
    parts[1] = bitmap.to_bytes(8, "big")
    return b"".join(parts)


def pack(mti, fields):
    """MTI + bitmap + fields. `fields` maps field numbers to values; a
    value that does not fit its field raises Iso8583Error naming it."""
    return _pack(mti, fields, False)


def mac_data(mti, fields):
    """The bytes F64 covers: the message as packed with bit 64 set in the
    bitmap, without F64's own 8 bytes (whether or not `fields` has F64)."""
    return _pack(mti, fields, True)


# --- unpack ---------------------------------------------------------------------------

def _short(body, start, count, field):
    return Iso8583Error("needs %d bytes, only %d left" % (count, len(body) - start), field, start)


def _unpack_field(number, body, pos):
    kind, length, prefix, _ = FIELDS[number]
    start = pos
    if prefix:
        if pos + prefix - 1 > len(body):
            raise _short(body, pos, prefix - 1, number)
        count = 0
        for b in body[pos:pos + prefix - 1]:
            if b > 0x99 or (b & 0x0F) > 9:
                raise Iso8583Error("length prefix %s is not BCD" % _hex_of(body[pos:pos + prefix - 1]),
                                   number, start)
            count = count * 100 + (b >> 4) * 10 + (b & 0x0F)
        pos += prefix - 1
        if count > length:
            raise Iso8583Error("length %d is over the maximum %d" % (count, length), number, start)
    else:
        count = length
    size = count if kind == "b" or kind == "a" else (count + 1) >> 1
    end = pos + size
    if end > len(body):
        raise _short(body, pos, size, number)
    data = body[pos:end]
    if kind == "b":
        return data, end
    if kind == "a":
        return _decode_chars(data), end
    nibbles = _hex_of(data)
    if count & 1:
        if prefix == 0 and number not in LEFT_ALIGNED:
            pad, nibbles = nibbles[0], nibbles[1:]
        else:
            pad, nibbles = nibbles[-1], nibbles[:-1]
        if pad != "0" and pad != "F":
            raise Iso8583Error("pad nibble %s is neither 0 nor F" % pad, number, start)
    if kind == "z":
        nibbles = nibbles.replace("D", "=")
        bad = nibbles.strip(TRACK_CHARS)
    else:
        bad = nibbles.strip(DIGITS)
    if bad:
        raise Iso8583Error("data %s is not %s" % (_hex_of(data), "track data" if kind == "z" else "BCD digits"),
                           number, start)
    return nibbles, end


def unpack(body):
    """(mti, fields) from a body as pack() makes it. Raises Iso8583Error on
    anything malformed: short data, bad BCD, an unknown field, a secondary
    bitmap, a length over the maximum, bytes left over."""
    if not isinstance(body, (bytes, bytearray, memoryview)):
        raise Iso8583Error("body must be bytes, got %s" % type(body).__name__)
    body = bytes(body)
    if len(body) < 2:
        raise _short(body, 0, 2, "MTI")
    mti = _hex_of(body[:2])
    if mti.strip(DIGITS):
        raise Iso8583Error("%s is not BCD" % mti, "MTI", 0)
    if len(body) < 10:
        raise _short(body, 2, 8, "bitmap")
    bitmap = int.from_bytes(body[2:10], "big")
    if bitmap >> 63:
        raise Iso8583Error("secondary bitmap (bit 1) is not supported", "bitmap", 2)
    fields = {}
    pos = 10
    # The bitmap as 64 characters "0"/"1": str.find jumps from one set bit to
    # the next in C, several times faster than shifting an int bit by bit.
    bits = "{:064b}".format(bitmap)
    index = bits.find("1", 1)
    while index > 0:
        number = index + 1
        index = bits.find("1", index + 1)
        if number not in FIELDS:
            raise Iso8583Error("present in the bitmap but not in the field table", number, pos)
        fields[number], pos = _unpack_field(number, body, pos)
    if pos != len(body):
        raise Iso8583Error("%d bytes left over after the last field" % (len(body) - pos), "end", pos)
    return mti, fields


# --- framing ---------------------------------------------------------------------------

def frame(body, tpdu, header):
    """2-byte big-endian length + TPDU (5) + header (6) + body."""
    if len(tpdu) != TPDU_LENGTH:
        raise Iso8583Error("TPDU must be %d bytes, got %d" % (TPDU_LENGTH, len(tpdu)), "frame")
    if len(header) != HEADER_LENGTH:
        raise Iso8583Error("header must be %d bytes, got %d" % (HEADER_LENGTH, len(header)), "frame")
    size = TPDU_LENGTH + HEADER_LENGTH + len(body)
    if size > 0xFFFF:
        raise Iso8583Error("message of %d bytes does not fit a 2-byte length" % size, "frame")
    return bytes((size >> 8, size & 0xFF)) + bytes(tpdu) + bytes(header) + bytes(body)


def unframe(payload):
    """(tpdu, header, body) from the bytes that follow the 2-byte length."""
    payload = bytes(payload)
    if len(payload) < TPDU_LENGTH + HEADER_LENGTH:
        raise Iso8583Error("%d bytes: too short for TPDU and header" % len(payload), "frame", 0)
    split = TPDU_LENGTH + HEADER_LENGTH
    return payload[:TPDU_LENGTH], payload[TPDU_LENGTH:split], payload[split:]


def reply_tpdu(tpdu):
    """The TPDU of a reply: same ID, destination and source swapped."""
    if len(tpdu) != TPDU_LENGTH:
        raise Iso8583Error("TPDU must be %d bytes, got %d" % (TPDU_LENGTH, len(tpdu)), "frame")
    tpdu = bytes(tpdu)
    return tpdu[0:1] + tpdu[3:5] + tpdu[1:3]


# --- field 60 ----------------------------------------------------------------------------

# (key, digits) of the parts of F60 that we name, in order.
FIELD60_PARTS = (("type_code", 2), ("batch", 6), ("network_code", 3),
                 ("read_capability", 1), ("ic_flag", 1))


def _part(value, name, width):
    if isinstance(value, int):
        if value < 0 or value >= 10 ** width:
            raise Iso8583Error("%s %d does not fit %d digits" % (name, value, width), 60)
        return ("0" * width + str(value))[-width:]
    if not isinstance(value, str) or len(value) != width or not _is_digits(value, False):
        raise Iso8583Error("%s must be %d digits, got %r" % (name, width, value), 60)
    return value


def field60(type_code, batch, network_code, read_capability=None, ic_flag=None):
    """F60 as a str of digits: 60.1 type code (n2), 60.2 batch (n6), 60.3
    network management code (n3), then optionally 60.4 read capability (n1)
    and 60.5 IC condition / fallback flag (n1). Each part is an int or a str
    of exactly its width."""
    parts = [_part(type_code, "type_code", 2), _part(batch, "batch", 6),
             _part(network_code, "network_code", 3)]
    if read_capability is not None:
        parts.append(_part(read_capability, "read_capability", 1))
        if ic_flag is not None:
            parts.append(_part(ic_flag, "ic_flag", 1))
    elif ic_flag is not None:
        raise Iso8583Error("ic_flag (60.5) needs read_capability (60.4)", 60)
    return "".join(parts)


def parse_field60(text):
    """F60 digits -> dict(type_code, batch, network_code, read_capability,
    ic_flag, rest): each a str of digits, None when the message stops
    before it; `rest` is whatever follows 60.5 (up to 19 digits in all)."""
    if not isinstance(text, str) or not _is_digits(text, False) or len(text) < 2:
        raise Iso8583Error("%r is not F60 digits" % (text,), 60)
    out = {}
    pos = 0
    for name, width in FIELD60_PARTS:
        if pos >= len(text):
            out[name] = None
            continue
        if pos + width > len(text):
            raise Iso8583Error("%s cut short in %r" % (name, text), 60)
        out[name] = text[pos:pos + width]
        pos += width
    out["rest"] = text[pos:] or None
    return out
