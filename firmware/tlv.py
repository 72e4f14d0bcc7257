"""BER-TLV as EMV uses it (EMV Book 3 Annex B, ISO/IEC 8825-1 / X.690).

Plain functions over bytes. A tag is an int made of its bytes read big-endian
(0x9F26, 0xBF0C, 0x5F2A), so it reads the way EMV documents print it.

    parse(data)         -> [(tag, value), ...]      the top level only
    walk(data)          -> [(tag, value), ...]      every object, templates opened
    find(data, tag)     -> value of the first object with that tag (any depth) or None
    build(items)        -> bytes; an item's value is bytes, or a list of items
                           (a constructed object built from its children)
    parse_dol(data)     -> [(tag, length), ...]     a data object list (PDOL, CDOL)

Malformed input raises TlvError (a ValueError) saying where it broke.
"""


class TlvError(ValueError):
    pass


def is_constructed(tag):
    """True for a template (bit 6 of the tag's first byte set: 6F, 70, 77, A5, BF0C)."""
    first = tag
    while first > 0xFF:
        first >>= 8
    return bool(first & 0x20)


def _read_tag(data, pos):
    """-> (tag, position after it)."""
    end = len(data)
    first = data[pos]
    tag = first
    pos += 1
    if first & 0x1F == 0x1F:
        # Subsequent bytes carry 7 bits each; bit 8 set means "another follows".
        while True:
            if pos >= end:
                raise TlvError("tag cut short at byte %d" % pos)
            byte = data[pos]
            tag = (tag << 8) | byte
            pos += 1
            if not byte & 0x80:
                break
            if tag > 0xFFFFFFFF:
                raise TlvError("tag longer than 4 bytes at byte %d" % pos)
    return tag, pos


def _read_length(data, pos):
    """-> (length, position after it). Short form below 0x80; 81..84 long form."""
    if pos >= len(data):
        raise TlvError("length missing at byte %d" % pos)
    first = data[pos]
    pos += 1
    if first < 0x80:
        return first, pos
    count = first & 0x7F
    if count == 0:
        # X.690 indefinite length: not allowed in EMV data.
        raise TlvError("indefinite length at byte %d" % (pos - 1))
    if count > 4:
        raise TlvError("length of %d bytes at byte %d" % (count, pos - 1))
    if pos + count > len(data):
        raise TlvError("length cut short at byte %d" % pos)
    length = 0
    for i in range(count):
        length = (length << 8) | data[pos + i]
    return length, pos + count


def parse(data):
    """The top-level objects of `data` as (tag, value bytes) in order.

    Bytes 00 and FF where a tag should start are skipped: EMV Book 3 Annex B
    and ISO 7816-4 allow them as padding before, between and after objects.
    """
    data = bytes(data)
    items = []
    pos = 0
    end = len(data)
    while pos < end:
        if data[pos] in (0x00, 0xFF):
            pos += 1
            continue
        start = pos
        tag, pos = _read_tag(data, pos)
        length, pos = _read_length(data, pos)
        if pos + length > end:
            raise TlvError("value of tag %X at byte %d wants %d bytes, %d left"
                           % (tag, start, length, end - pos))
        items.append((tag, data[pos:pos + length]))
        pos += length
    return items


def walk(data):
    """Every object, depth first: a template comes before its children."""
    out = []
    for tag, value in parse(data):
        out.append((tag, value))
        if is_constructed(tag):
            out.extend(walk(value))
    return out


def find(data, tag):
    """The value of the first object with `tag`, searching inside templates; None if absent."""
    for found, value in parse(data):
        if found == tag:
            return value
        if is_constructed(found):
            inner = find(value, tag)
            if inner is not None:
                return inner
    return None


def encode_tag(tag):
    if tag < 0 or tag > 0xFFFFFFFF:
        raise TlvError("tag %r out of range" % tag)
    out = []
    while True:
        out.append(tag & 0xFF)
        tag >>= 8
        if not tag:
            break
    out.reverse()  # (MicroPython's bytearray has no insert)
    out = bytes(out)
    if out[0] & 0x1F == 0x1F:
        if len(out) < 2:
            raise TlvError("tag %02X announces more bytes but has none" % out[0])
        for i in range(1, len(out) - 1):
            if not out[i] & 0x80:
                raise TlvError("tag %s: byte %d must have bit 8 set" % (out.hex(), i))
        if out[-1] & 0x80:
            raise TlvError("tag %s: last byte must have bit 8 clear" % out.hex())
    elif len(out) > 1:
        raise TlvError("tag %s: first byte does not announce a multi-byte tag" % out.hex())
    return out


def encode_length(length):
    if length < 0:
        raise TlvError("negative length")
    if length < 0x80:
        return bytes([length])
    body = []
    while length:
        body.append(length & 0xFF)
        length >>= 8
    if len(body) > 4:
        raise TlvError("length too large")
    body.reverse()
    return bytes([0x80 | len(body)] + body)


def build(items):
    """Encode [(tag, value), ...]; a list as the value builds a template from it."""
    out = bytearray()
    for tag, value in items:
        if isinstance(value, list):
            value = build(value)
        elif not isinstance(value, (bytes, bytearray)):
            raise TlvError("value of tag %X must be bytes or a list, not %s" % (tag, type(value).__name__))
        out.extend(encode_tag(tag))
        out.extend(encode_length(len(value)))
        out.extend(value)
    return bytes(out)


def parse_dol(data):
    """A data object list: tags each followed by a length, no values (EMV Book 3 5.4)."""
    data = bytes(data)
    entries = []
    pos = 0
    while pos < len(data):
        tag, pos = _read_tag(data, pos)
        length, pos = _read_length(data, pos)
        entries.append((tag, length))
    return entries
