"""The electronic signature (电子签名) of a paperless handset: plain
functions from the cardholder's strokes to the bytes an acquirer takes.

    feature_code("1201", "120000123456")   -> "4E3F7A12"-like: 8 hex digits on the signing screen
    bits = rasterize(strokes, IMAGE_WIDTH, IMAGE_HEIGHT)   # cropped, scaled, 1 bit a pixel
    data = encode(bits, IMAGE_WIDTH, IMAGE_HEIGHT)         # a few hundred bytes
    width, height, bits = decode(data)

The feature code (特征码) is what public terminal code shows while the
cardholder signs: the BCD of F15 (MMDD) followed by F37 (the RRN), 8
bytes, first 4 XOR last 4, as 8 hex digits. It ties the signature to the
transaction on the paper-less receipt.

The image codec is ours, in the manner of JBIG1 (ITU-T T.82): each pixel
is coded by a binary arithmetic coder with the probability of ink learned,
as the image goes, for its context, the 10 pixels already coded around it
(JBIG1's three-line template):

        row y-2:        . x x x .
        row y-1:        x x x x x
        row y:          x x ?           ? = the pixel being coded

A signature is thin strokes on white: nearly every context says "white,
surely" or "the stroke goes on here", so a pixel costs a small fraction of
a bit. The estimate is from counts (Krichevsky-Trofimov with a small
prior): P(ink) = (8 n_ink + 1) / (8 n + 2), 12 bits; the counts of a
context are halved past 1023. Each row first codes one flag, "the same as
the row above" (JBIG's typical prediction): blank margins cost next to
nothing and are skipped at the speed of a bytes comparison.

The coder is a range coder on 24 bits (the interval [low, low + span),
a byte out whenever span drops below 2**16, a carry added back into the
bytes already out). Every value stays below 2**25: integers only, never a
big int even where MicroPython's small ints are 31 bits, nothing allocated
per pixel. The encoder ends by writing low's 3 bytes, so the decoder must
use up every byte and be left with nothing (code == 0): a cut or padded
image is refused (SignatureError), and a changed one all but always (at
worst a 1 in 2**16 chance to pass), rather than drawn wrong.

Measured on the cursive name and the dense scribble of
tests/unit/test_esign.py at 256x96 (1027 and 2005 pixels of ink):

        this codec (SG2)                  170 and  228 bytes
        our former row coder (SG1)        1004 and 1979
        CCITT G4 (libtiff, strip only)    533 and  748  (656, 870 as TIFF files)
        PNG (Pillow, optimize)            623 and  604

The time to encode or decode one is about 20 ms on this x86 under either
CPython or MicroPython (bench/esign_image.py); on the virtual ARM handset
(Debian's MicroPython, the firmware as .mpy, QEMU TCG) 0.33-0.98 s to
encode and 0.25-0.57 s to decode, measured once by hand (noisy, the
machine shared). Blank rows and an all-white image take next to no time.
SG1 images are not read: none was ever sent (the format changed before
the paperless flow shipped), and one decoder is less code to trust.

Format: b"SG2" | width (2 bytes) | height (2 bytes) | the coded pixels,
row after row, left to right (a row's flag, then, unless it repeats the
row above, its pixels); 1..1024 pixels a side, at most 2**18 in all.
"""

IMAGE_WIDTH = 256
IMAGE_HEIGHT = 96
MAGIC = b"SG2"
HEADER = 7                  # magic, width, height
MAX_SIDE = 1024
MAX_PIXELS = 1 << 18        # decode allocates at most this many bytes for the bitmap
CONTEXTS = 1 << 10          # the 10 pixels of the template
COUNT_LIMIT = 1023          # a context's counts are halved past this
TOP = 1 << 24               # the coder's interval [low, low + span) is 24 bits wide ...
BOTTOM = 1 << 16            # ... and a byte moves out when span drops below 16 bits


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
# Both loops below keep every value of the coder under 2**25 (MicroPython's
# small ints are 31 bits on a 32-bit port: no big ints, no allocation per
# pixel), and are written out twice, once to code and once to decode, with
# the model inlined: a call per pixel would double the time on the handset.

def _check_size(width, height):
    if width < 1 or height < 1 or width > MAX_SIDE or height > MAX_SIDE or width * height > MAX_PIXELS:
        raise SignatureError("a %dx%d image: a signature is 1..%d pixels a side and at most %d pixels"
                             % (width, height, MAX_SIDE, MAX_PIXELS))


def _carry(out, start):
    """Add one to the coded bytes out[start:] (the interval's low end passed 2**24)."""
    i = len(out) - 1
    while out[i] == 0xFF:
        out[i] = 0
        i -= 1
    if i < start:      # cannot happen: the coded value stays below 1
        raise SignatureError("coder overflow")
    out[i] += 1


def encode(bits, width, height):
    """width*height pixels (1 = ink, 0 = paper, row after row) -> bytes."""
    _check_size(width, height)
    if len(bits) != width * height:
        raise SignatureError("%d pixels for a %dx%d image" % (len(bits), width, height))
    out = bytearray(MAGIC)
    out += bytes((width >> 8, width & 0xFF, height >> 8, height & 0xFF))
    start = len(out)
    paper = [0] * CONTEXTS           # per context: how often paper, how often ink came
    ink = [0] * CONTEXTS
    same_counts = [0, 0]             # the same for "a row like the one above"
    low = 0
    span = TOP
    pad = bytes(2)
    above2 = above = bytes(width + 2)     # rows y-2 and y-1, two white pixels past the right edge
    for y in range(height):
        row = bytes(bits[y * width:(y + 1) * width])
        if max(row) > 1:
            raise SignatureError("row %d: a pixel is 0 (paper) or 1 (ink)" % y)
        row += pad
        # typical prediction: one flag a row, and a row like the one above costs nothing more
        same = 1 if row == above else 0
        a = same_counts[0]
        b = same_counts[1]
        p = ((b << 3 | 1) << 12) // ((a + b) << 3 | 2) or 1
        split = (span >> 12) * p
        if same:
            span = split
        else:
            low += split
            span -= split
        same_counts[same] += 1
        while span < BOTTOM:
            if low >= TOP:
                _carry(out, start)
                low -= TOP
            out.append(low >> 16)
            low = (low & 0xFFFF) << 8
            span <<= 8
        if same:
            above2 = above
            continue
        context = (above2[0] << 7) | (above[0] << 3) | (above[1] << 2)
        bit = 0
        for x in range(width):
            context = ((context << 1) & 0x37A) | (above2[x + 1] << 7) | (above[x + 2] << 2) | bit
            bit = row[x]
            a = paper[context]
            b = ink[context]
            p = ((b << 3 | 1) << 12) // ((a + b) << 3 | 2) or 1     # P(ink) in 4096ths
            split = (span >> 12) * p
            if bit:
                span = split
                b += 1
                ink[context] = b
            else:
                low += split
                span -= split
                a += 1
                paper[context] = a
            if a + b > COUNT_LIMIT:
                paper[context] = (a + 1) >> 1
                ink[context] = (b + 1) >> 1
            while span < BOTTOM:
                if low >= TOP:
                    _carry(out, start)
                    low -= TOP
                out.append(low >> 16)
                low = (low & 0xFFFF) << 8
                span <<= 8
        above2 = above
        above = row
    if low >= TOP:
        _carry(out, start)
        low -= TOP
    out += bytes((low >> 16, (low >> 8) & 0xFF, low & 0xFF))
    return bytes(out)


def decode(data):
    """-> (width, height, bits). Malformed data raises SignatureError."""
    if len(data) < HEADER + 3 or bytes(data[:3]) != MAGIC:
        raise SignatureError("not a signature image")
    width = (data[3] << 8) | data[4]
    height = (data[5] << 8) | data[6]
    _check_size(width, height)
    end = len(data)
    pos = HEADER + 3
    code = (data[HEADER] << 16) | (data[HEADER + 1] << 8) | data[HEADER + 2]    # below span, always
    span = TOP
    bits = bytearray(width * height)
    paper = [0] * CONTEXTS
    ink = [0] * CONTEXTS
    same_counts = [0, 0]
    above2 = above = bytearray(width + 2)
    for y in range(height):
        a = same_counts[0]
        b = same_counts[1]
        p = ((b << 3 | 1) << 12) // ((a + b) << 3 | 2) or 1
        split = (span >> 12) * p
        if code < split:
            same = 1
            span = split
        else:
            same = 0
            code -= split
            span -= split
        same_counts[same] += 1
        while span < BOTTOM:
            if pos >= end:
                raise SignatureError("cut short at row %d" % y)
            code = (code << 8) | data[pos]
            pos += 1
            span <<= 8
        if same:
            bits[y * width:(y + 1) * width] = above[:width]
            above2 = above
            continue
        row = bytearray(width + 2)
        context = (above2[0] << 7) | (above[0] << 3) | (above[1] << 2)
        bit = 0
        for x in range(width):
            context = ((context << 1) & 0x37A) | (above2[x + 1] << 7) | (above[x + 2] << 2) | bit
            a = paper[context]
            b = ink[context]
            p = ((b << 3 | 1) << 12) // ((a + b) << 3 | 2) or 1
            split = (span >> 12) * p
            if code < split:
                bit = 1
                span = split
                b += 1
                ink[context] = b
            else:
                bit = 0
                code -= split
                span -= split
                a += 1
                paper[context] = a
            row[x] = bit
            if a + b > COUNT_LIMIT:
                paper[context] = (a + 1) >> 1
                ink[context] = (b + 1) >> 1
            while span < BOTTOM:
                if pos >= end:
                    raise SignatureError("cut short at row %d" % y)
                code = (code << 8) | data[pos]
                pos += 1
                span <<= 8
        bits[y * width:(y + 1) * width] = row[:width]
        above2 = above
        above = row
    if pos != end:
        raise SignatureError("%d bytes left over" % (end - pos))
    if code:
        raise SignatureError("damaged: the coded image does not end where it should")
    return width, height, bits
