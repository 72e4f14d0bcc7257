"""The electronic signature (电子签名) of a paperless handset: plain
functions from the cardholder's strokes to the bytes an acquirer takes.

    feature_code("1201", "120000123456")   -> "4E3F7A12"-like: 8 hex digits on the signing screen
    bits = rasterize(strokes, IMAGE_WIDTH, IMAGE_HEIGHT)   # cropped, scaled, 1 bit a pixel
    data = encode(bits, IMAGE_WIDTH, IMAGE_HEIGHT)         # well under 1 KB
    width, height, bits = decode(data)

The feature code (特征码) is what public terminal code shows while the
cardholder signs: the BCD of F15 (MMDD) followed by F37 (the RRN), 8
bytes, first 4 XOR last 4, as 8 hex digits. It ties the signature to the
transaction on the paper-less receipt.

The image codec is ours, chosen for signatures, with the idea of CCITT
G4's vertical mode: strokes are thin lines, so a row's colour changes
(transitions) sit within a few pixels of the row above's. Such a row is
coded as those small shifts, half a byte each; a row like the one above
is one byte; anything else is its run lengths. A 256x96 signature comes to
a few hundred bytes (tests/unit/test_esign.py measures one); JBIG2 would
be tighter still, at many times the code.

Format: b"SG1" | width (2 bytes) | height (2 bytes) | rows, each
  0xFE                  same as the row above
  0xFD shifts...        as many transitions as the row above, each moved by
                        -7..+7: (shift + 8) in a nibble, two a byte, high first
  n (0..252) runs...    n run lengths, white first, as nibbles (high first,
                        the last byte padded with 0): 3 bits of the length a
                        nibble, most significant first, the nibble's top bit
                        set on all but the last
"""

IMAGE_WIDTH = 256
IMAGE_HEIGHT = 96
MAGIC = b"SG1"
SAME_ROW = 0xFE
SHIFTED_ROW = 0xFD
MAX_RUNS = 252
MAX_SHIFT = 7


class SignatureError(ValueError):
    pass


def _bcd(digits):
    if len(digits) % 2 or digits.strip("0123456789"):
        raise SignatureError("not an even number of digits: %r" % (digits,))
    return bytes([(int(digits[i]) << 4) | int(digits[i + 1]) for i in range(0, len(digits), 2)])


def feature_code(settlement_date, rrn):
    """F15 (MMDD) + F37 (12 digits) -> 8 hex digits."""
    if len(settlement_date) != 4 or len(rrn) != 12:
        raise SignatureError("F15 is 4 digits and F37 12, not %r and %r" % (settlement_date, rrn))
    data = _bcd(settlement_date + rrn)
    folded = bytes([data[i] ^ data[i + 4] for i in range(4)])
    return "".join(["%02X" % b for b in folded])


# --- strokes to a bitmap -------------------------------------------------------------------

def _line(bits, width, x0, y0, x1, y1):
    """Bresenham, into a bytearray of width*height (1 = ink)."""
    dx = abs(x1 - x0)
    dy = -abs(y1 - y0)
    sx = 1 if x0 < x1 else -1
    sy = 1 if y0 < y1 else -1
    err = dx + dy
    while True:
        bits[y0 * width + x0] = 1
        if x0 == x1 and y0 == y1:
            return
        e2 = 2 * err
        if e2 >= dy:
            err += dy
            x0 += sx
        if e2 <= dx:
            err += dx
            y0 += sy


def rasterize(strokes, width=IMAGE_WIDTH, height=IMAGE_HEIGHT, margin=2):
    """Strokes ([[(x, y), ...], ...] in screen pixels) -> a bytearray of
    width*height, the ink cropped to its bounding box and scaled to fit
    (aspect kept, centred). No ink at all is an error: a blank signature
    is no signature."""
    points = [p for stroke in strokes for p in stroke]
    if not points:
        raise SignatureError("no ink: the cardholder has not signed")
    left = min(p[0] for p in points)
    top = min(p[1] for p in points)
    span_x = max(p[0] for p in points) - left
    span_y = max(p[1] for p in points) - top
    inner_w, inner_h = width - 2 * margin - 1, height - 2 * margin - 1
    # one scale for both axes (a fraction as two integers: no floats needed)
    if span_x * inner_h >= span_y * inner_w:
        num, den = inner_w, max(span_x, 1)
    else:
        num, den = inner_h, max(span_y, 1)
    off_x = margin + (inner_w - span_x * num // den) // 2
    off_y = margin + (inner_h - span_y * num // den) // 2
    bits = bytearray(width * height)
    for stroke in strokes:
        scaled = [(off_x + (x - left) * num // den, off_y + (y - top) * num // den) for x, y in stroke]
        if len(scaled) == 1:
            scaled = scaled * 2
        for a, b in zip(scaled, scaled[1:]):
            _line(bits, width, a[0], a[1], b[0], b[1])
    return bits


# --- the codec -----------------------------------------------------------------------------

def _runs(row):
    runs = []
    colour = 0
    count = 0
    for bit in row:
        if bit == colour:
            count += 1
        else:
            runs.append(count)
            colour ^= 1
            count = 1
    runs.append(count)
    return runs


def _put_nibbles(out, nibbles):
    if len(nibbles) % 2:
        nibbles = nibbles + [0]
    for i in range(0, len(nibbles), 2):
        out.append((nibbles[i] << 4) | nibbles[i + 1])


class _Nibbles:
    """Reads half-bytes from data[pos:]; .end is the byte after the last one read."""

    def __init__(self, data, pos):
        self.data = data
        self.start = pos
        self.count = 0

    def next(self):
        at = self.start + self.count // 2
        if at >= len(self.data):
            raise SignatureError("cut short")
        byte = self.data[at]
        value = byte >> 4 if self.count % 2 == 0 else byte & 15
        self.count += 1
        return value

    @property
    def end(self):
        return self.start + (self.count + 1) // 2


def _transitions(row):
    """Positions where the colour changes, starting from white."""
    out = []
    colour = 0
    for x, bit in enumerate(row):
        if bit != colour:
            out.append(x)
            colour = bit
    return out


def _row_of(transitions, width):
    row = bytearray(width)
    colour = 0
    edges = transitions + [width]
    start = 0
    for edge in edges:
        if colour:
            row[start:edge] = b"\x01" * (edge - start)
        start = edge
        colour ^= 1
    return row


def encode(bits, width, height):
    if len(bits) != width * height:
        raise SignatureError("%d pixels for a %dx%d image" % (len(bits), width, height))
    out = bytearray(MAGIC)
    out += bytes((width >> 8, width & 0xFF, height >> 8, height & 0xFF))
    previous = None
    above = None
    for y in range(height):
        row = bytes(bits[y * width:(y + 1) * width])
        if row == previous:
            out.append(SAME_ROW)
            continue
        previous = row
        edges = _transitions(row)
        if above and len(edges) == len(above) and max([abs(a - b) for a, b in zip(edges, above)]) <= MAX_SHIFT:
            out.append(SHIFTED_ROW)
            nibbles = [a - b + 8 for a, b in zip(edges, above)]
            if len(nibbles) % 2:
                nibbles.append(8)
            for i in range(0, len(nibbles), 2):
                out.append((nibbles[i] << 4) | nibbles[i + 1])
        else:
            runs = _runs(row)
            if len(runs) > MAX_RUNS:
                raise SignatureError("row %d has %d runs: not a signature" % (y, len(runs)))
            out.append(len(runs))
            nibbles = []
            for run in runs:
                # 3 bits a nibble, most significant first; the top bit says "more follows"
                groups = [run & 7]
                run >>= 3
                while run:
                    groups.append(run & 7)
                    run >>= 3
                for i in range(len(groups) - 1, 0, -1):
                    nibbles.append(8 | groups[i])
                nibbles.append(groups[0])
            _put_nibbles(out, nibbles)
        above = edges
    return bytes(out)


def decode(data):
    """-> (width, height, bits). Malformed data raises SignatureError."""
    if len(data) < 7 or bytes(data[:3]) != MAGIC:
        raise SignatureError("not a signature image")
    width = (data[3] << 8) | data[4]
    height = (data[5] << 8) | data[6]
    bits = bytearray(width * height)
    pos = 7
    previous = None
    above = None
    for y in range(height):
        if pos >= len(data):
            raise SignatureError("cut short at row %d" % y)
        count = data[pos]
        pos += 1
        if count == SAME_ROW:
            if previous is None:
                raise SignatureError("row %d repeats a row that is not there" % y)
            row = previous
        elif count == SHIFTED_ROW:
            if not above:
                raise SignatureError("row %d shifts a row that is not there" % y)
            size = (len(above) + 1) // 2
            if pos + size > len(data):
                raise SignatureError("cut short in row %d" % y)
            nibbles = []
            for b in data[pos:pos + size]:
                nibbles.append(b >> 4)
                nibbles.append(b & 0x0F)
            pos += size
            edges = [a + n - 8 for a, n in zip(above, nibbles)]
            if edges != sorted(edges) or edges[0] < 1 or edges[-1] >= width or len(set(edges)) != len(edges):
                raise SignatureError("row %d: transitions out of order or outside the row" % y)
            row = _row_of(edges, width)
            previous = row
            above = edges
        else:
            row = bytearray()
            colour = 0
            reader = _Nibbles(data, pos)
            try:
                for _ in range(count):
                    run = 0
                    nibble = 8
                    while nibble & 8:
                        nibble = reader.next()
                        run = (run << 3) | (nibble & 7)
                        if run > width:
                            break
                    if len(row) + run > width:
                        raise SignatureError("row %d is longer than %d pixels" % (y, width))
                    row += bytes([colour]) * run
                    colour ^= 1
            except SignatureError as e:
                raise SignatureError("row %d: %s" % (y, e))
            pos = reader.end
            if len(row) != width:
                raise SignatureError("row %d is %d pixels, not %d" % (y, len(row), width))
            previous = row
            above = _transitions(row)
        bits[y * width:(y + 1) * width] = row
    if pos != len(data):
        raise SignatureError("%d bytes left over" % (len(data) - pos))
    return width, height, bits
