"""QR codes (ISO/IEC 18004), our own encoder: the terminal shows codes on
its screen (a payment code to scan, an electronic receipt's link) and
prints them as raster images, and MicroPython has no library for it.

    code = encode(b"https://host/r/123", ecc="M")   # smallest version that fits
    code.size                                       # modules a side (21 for version 1)
    code.dark(x, y)                                 # True for a dark module
    rgb565_blit(framebuffer, width, x, y, code, scale)

Byte mode only (any bytes; a phone's scanner reads UTF-8 text and URLs from
it), versions 1 to 10 (up to 271 bytes at level L, 213 at M), the four
error-correction levels, and the mask with the lowest penalty score unless
one is asked for. tests/unit/test_qr.py checks every version, level and
mask module for module against segno, and decodes our codes with OpenCV.
"""

# Error correction level -> its two format bits (ISO 18004 table 25).
LEVEL_BITS = {"L": 1, "M": 0, "Q": 3, "H": 2}

# Version -> level -> (EC codewords per block, ((blocks, data codewords a block), ...)),
# ISO 18004 table 9, versions 1 to 10.
BLOCKS = (
    None,
    {"L": (7, ((1, 19),)), "M": (10, ((1, 16),)), "Q": (13, ((1, 13),)), "H": (17, ((1, 9),))},
    {"L": (10, ((1, 34),)), "M": (16, ((1, 28),)), "Q": (22, ((1, 22),)), "H": (28, ((1, 16),))},
    {"L": (15, ((1, 55),)), "M": (26, ((1, 44),)), "Q": (18, ((2, 17),)), "H": (22, ((2, 13),))},
    {"L": (20, ((1, 80),)), "M": (18, ((2, 32),)), "Q": (26, ((2, 24),)), "H": (16, ((4, 9),))},
    {"L": (26, ((1, 108),)), "M": (24, ((2, 43),)), "Q": (18, ((2, 15), (2, 16))),
     "H": (22, ((2, 11), (2, 12)))},
    {"L": (18, ((2, 68),)), "M": (16, ((4, 27),)), "Q": (24, ((4, 19),)), "H": (28, ((4, 15),))},
    {"L": (20, ((2, 78),)), "M": (18, ((4, 31),)), "Q": (18, ((2, 14), (4, 15))),
     "H": (26, ((4, 13), (1, 14)))},
    {"L": (24, ((2, 97),)), "M": (22, ((2, 38), (2, 39))), "Q": (22, ((4, 18), (2, 19))),
     "H": (26, ((4, 14), (2, 15)))},
    {"L": (30, ((2, 116),)), "M": (22, ((3, 36), (2, 37))), "Q": (20, ((4, 16), (4, 17))),
     "H": (24, ((4, 12), (4, 13)))},
    {"L": (18, ((2, 68), (2, 69))), "M": (26, ((4, 43), (1, 44))), "Q": (24, ((6, 19), (2, 20))),
     "H": (28, ((6, 15), (2, 16)))},
)

# Version -> centre coordinates of its alignment patterns (ISO 18004 annex E).
ALIGNMENT = (None, (), (6, 18), (6, 22), (6, 26), (6, 30), (6, 34), (6, 22, 38), (6, 24, 42),
             (6, 26, 46), (6, 28, 50))

MAX_VERSION = 10
BYTE_MODE = 0b0100
PAD_BYTES = (0xEC, 0x11)
FORMAT_GENERATOR = 0x537
FORMAT_MASK = 0x5412
VERSION_GENERATOR = 0x1F25


class QrError(ValueError):
    pass


# --- Reed-Solomon over GF(256), polynomial x^8 + x^4 + x^3 + x^2 + 1 --------------

def _gf_multiply(a, b):
    product = 0
    while b:
        if b & 1:
            product ^= a
        a <<= 1
        if a & 0x100:
            a ^= 0x11D
        b >>= 1
    return product


def _rs_generator(degree):
    """Coefficients (highest first, leading 1 dropped) of the product of
    (x - 2^i) for i < degree."""
    poly = [1]
    root = 1
    for _ in range(degree):
        # multiply by (x + root): in GF(2^8) minus is plus
        poly = [a ^ _gf_multiply(b, root) for a, b in zip(poly + [0], [0] + poly)]
        root = _gf_multiply(root, 2)
    return poly[1:]


def _rs_remainder(data, generator):
    remainder = [0] * len(generator)
    for byte in data:
        factor = byte ^ remainder[0]
        remainder = remainder[1:] + [0]
        if factor:
            for i, coefficient in enumerate(generator):
                remainder[i] ^= _gf_multiply(coefficient, factor)
    return remainder


# --- codewords -------------------------------------------------------------------------

def data_capacity(version, ecc):
    """Data codewords (bytes) of a version at a level."""
    return sum(count * size for count, size in BLOCKS[version][ecc][1])


def _count_bits(version):
    return 8 if version <= 9 else 16


def _data_codewords(data, version, ecc):
    capacity = data_capacity(version, ecc)
    bits = []

    def put(value, width):
        for shift in range(width - 1, -1, -1):
            bits.append((value >> shift) & 1)

    put(BYTE_MODE, 4)
    put(len(data), _count_bits(version))
    for byte in data:
        put(byte, 8)
    put(0, min(4, capacity * 8 - len(bits)))          # terminator
    put(0, (8 - len(bits) % 8) % 8)                   # to a byte boundary
    out = bytearray()
    for i in range(0, len(bits), 8):
        value = 0
        for bit in bits[i:i + 8]:
            value = (value << 1) | bit
        out.append(value)
    pad = 0
    while len(out) < capacity:
        out.append(PAD_BYTES[pad])
        pad ^= 1
    return out


def _interleaved(data, version, ecc):
    """Data blocks and their EC blocks, interleaved as they are placed."""
    ec_size, groups = BLOCKS[version][ecc]
    generator = _rs_generator(ec_size)
    blocks = []
    at = 0
    for count, size in groups:
        for _ in range(count):
            block = data[at:at + size]
            at += size
            blocks.append((block, _rs_remainder(block, generator)))
    out = bytearray()
    longest = max(len(block) for block, _ in blocks)
    for i in range(longest):
        for block, _ in blocks:
            if i < len(block):
                out.append(block[i])
    for i in range(ec_size):
        for _, ec in blocks:
            out.append(ec[i])
    return out


# --- the matrix ------------------------------------------------------------------------

class QrCode:
    """A finished symbol: `size` modules a side, dark(x, y) for each."""

    def __init__(self, version, ecc, mask, modules):
        self.version = version
        self.ecc = ecc
        self.mask = mask
        self.size = 17 + 4 * version
        self._modules = modules        # bytearray, row after row, 1 = dark

    def dark(self, x, y):
        return self._modules[y * self.size + x] == 1

    def rows(self):
        """The modules as strings of '1' (dark) and '0', top row first."""
        size = self.size
        return ["".join(["1" if self._modules[y * size + x] else "0" for x in range(size)])
                for y in range(size)]


class _Matrix:
    """The symbol being built: modules and which of them are function
    patterns (finders, timing, alignment, format and version info)."""

    def __init__(self, version):
        self.version = version
        self.size = 17 + 4 * version
        self.modules = bytearray(self.size * self.size)
        self.function = bytearray(self.size * self.size)

    def set_function(self, x, y, dark):
        at = y * self.size + x
        self.modules[at] = 1 if dark else 0
        self.function[at] = 1

    def draw_function_patterns(self):
        size = self.size
        for i in range(size):
            self.set_function(6, i, i % 2 == 0)
            self.set_function(i, 6, i % 2 == 0)
        for cx, cy in ((3, 3), (size - 4, 3), (3, size - 4)):
            for dy in range(-4, 5):
                for dx in range(-4, 5):
                    x, y = cx + dx, cy + dy
                    if 0 <= x < size and 0 <= y < size:
                        ring = max(abs(dx), abs(dy))
                        self.set_function(x, y, ring != 2 and ring != 4)
        centres = ALIGNMENT[self.version]
        last = len(centres) - 1
        for i, cx in enumerate(centres):
            for j, cy in enumerate(centres):
                if (i, j) in ((0, 0), (0, last), (last, 0)):
                    continue      # these places belong to the finders
                for dy in range(-2, 3):
                    for dx in range(-2, 3):
                        self.set_function(cx + dx, cy + dy, max(abs(dx), abs(dy)) != 1)
        self.draw_format(LEVEL_BITS["M"], 0)    # reserves the places; drawn again once the mask is known
        self.draw_version()

    def draw_format(self, level_bits, mask):
        data = (level_bits << 3) | mask
        remainder = data
        for _ in range(10):
            remainder = (remainder << 1) ^ ((remainder >> 9) * FORMAT_GENERATOR)
        bits = ((data << 10) | remainder) ^ FORMAT_MASK
        size = self.size

        def bit(i):
            return (bits >> i) & 1 == 1

        # around the top-left finder
        for i in range(6):
            self.set_function(8, i, bit(i))
        self.set_function(8, 7, bit(6))
        self.set_function(8, 8, bit(7))
        self.set_function(7, 8, bit(8))
        for i in range(9, 15):
            self.set_function(14 - i, 8, bit(i))
        # split between the other two finders
        for i in range(8):
            self.set_function(size - 1 - i, 8, bit(i))
        for i in range(8, 15):
            self.set_function(8, size - 15 + i, bit(i))
        self.set_function(8, size - 8, True)    # the dark module

    def draw_version(self):
        if self.version < 7:
            return
        remainder = self.version
        for _ in range(12):
            remainder = (remainder << 1) ^ ((remainder >> 11) * VERSION_GENERATOR)
        bits = (self.version << 12) | remainder
        for i in range(18):
            dark = (bits >> i) & 1 == 1
            a = self.size - 11 + i % 3
            b = i // 3
            self.set_function(a, b, dark)
            self.set_function(b, a, dark)

    def place(self, codewords):
        """Codeword bits up and down the two-module columns, right to left,
        around the function patterns (column 6, the timing, is skipped)."""
        size = self.size
        total = len(codewords) * 8
        i = 0
        right = size - 1
        while right >= 1:
            if right == 6:
                right = 5
            upward = ((right + 1) & 2) == 0
            for step in range(size):
                y = size - 1 - step if upward else step
                for x in (right, right - 1):
                    at = y * size + x
                    if not self.function[at] and i < total:
                        self.modules[at] = (codewords[i >> 3] >> (7 - (i & 7))) & 1
                        i += 1
            right -= 2

    def apply_mask(self, mask):
        """XOR the data modules with a mask pattern (applying it twice undoes it)."""
        size = self.size
        for y in range(size):
            for x in range(size):
                at = y * size + x
                if not self.function[at] and _mask_bit(mask, x, y):
                    self.modules[at] ^= 1


def _mask_bit(mask, x, y):
    if mask == 0:
        return (x + y) % 2 == 0
    if mask == 1:
        return y % 2 == 0
    if mask == 2:
        return x % 3 == 0
    if mask == 3:
        return (x + y) % 3 == 0
    if mask == 4:
        return (x // 3 + y // 2) % 2 == 0
    if mask == 5:
        return x * y % 2 + x * y % 3 == 0
    if mask == 6:
        return (x * y % 2 + x * y % 3) % 2 == 0
    return ((x + y) % 2 + x * y % 3) % 2 == 0


# --- penalty (ISO 18004 7.8.3): the mask that scores lowest is used ------------------------

FINDER_CORE = "1011101"      # dark:light:dark:light:dark as 1:1:3:1:1
LIGHT_AREA = "0000"


def _line_penalty(line):
    """Runs of five or more (N1) and finder-like patterns (N3) in one row or
    column, given as a string of '0'/'1'. A finder-like pattern counts once
    when 4 light modules precede or follow it; the quiet zone beyond the
    edge is light."""
    score = 0
    run = 1
    for i in range(1, len(line) + 1):
        if i < len(line) and line[i] == line[i - 1]:
            run += 1
            continue
        if run >= 5:
            score += run - 2
        run = 1
    padded = LIGHT_AREA + line + LIGHT_AREA
    at = padded.find(FINDER_CORE)
    while at >= 0:
        if padded[at - 4:at] == LIGHT_AREA or padded[at + 7:at + 11] == LIGHT_AREA:
            score += 40
            at = padded.find(FINDER_CORE, at + 7)
        else:
            at = padded.find(FINDER_CORE, at + 4)   # the next core can start at this one's 3-run
    return score


def penalty(modules, size):
    rows = ["".join(["1" if modules[y * size + x] else "0" for x in range(size)]) for y in range(size)]
    columns = ["".join([row[x] for row in rows]) for x in range(size)]
    score = 0
    for line in rows:
        score += _line_penalty(line)
    for line in columns:
        score += _line_penalty(line)
    for y in range(size - 1):
        upper, lower = rows[y], rows[y + 1]
        for x in range(size - 1):
            c = upper[x]
            if c == upper[x + 1] and c == lower[x] and c == lower[x + 1]:
                score += 3
    dark = 0
    for row in rows:
        dark += row.count("1")
    total = size * size
    # 10 points for every full 5 % the dark share is away from 50 %
    score += 10 * (abs(dark * 20 - total * 10) // total)
    return score


# --- the whole encoder -----------------------------------------------------------------------

def smallest_version(length, ecc):
    for version in range(1, MAX_VERSION + 1):
        header = 4 + _count_bits(version)
        if header + 8 * length <= 8 * data_capacity(version, ecc):
            return version
    raise QrError("%d bytes do not fit a version %d QR code at level %s (at most %d)"
                  % (length, MAX_VERSION, ecc, data_capacity(MAX_VERSION, ecc) - 3))


def encode(data, ecc="M", version=None, mask=None):
    """bytes (or str, as UTF-8) -> QrCode. The smallest version that fits
    unless `version` is given; the lowest-penalty mask unless `mask` is."""
    if isinstance(data, str):
        data = data.encode()
    if ecc not in LEVEL_BITS:
        raise QrError("error correction level must be L, M, Q or H, not %r" % (ecc,))
    needed = smallest_version(len(data), ecc)
    if version is None:
        version = needed
    elif not (needed <= version <= MAX_VERSION):
        raise QrError("%d bytes need version %d..%d at level %s, not %r" % (len(data), needed, MAX_VERSION,
                                                                             ecc, version))
    if mask is not None and not (0 <= mask <= 7):
        raise QrError("mask must be 0..7, not %r" % (mask,))
    matrix = _Matrix(version)
    matrix.draw_function_patterns()
    matrix.place(_interleaved(_data_codewords(data, version, ecc), version, ecc))
    if mask is None:
        best = None
        for candidate in range(8):
            matrix.apply_mask(candidate)
            matrix.draw_format(LEVEL_BITS[ecc], candidate)
            score = penalty(matrix.modules, matrix.size)
            if best is None or score < best[0]:
                best = (score, candidate)
            matrix.apply_mask(candidate)
        mask = best[1]
    matrix.apply_mask(mask)
    matrix.draw_format(LEVEL_BITS[ecc], mask)
    return QrCode(version, ecc, mask, matrix.modules)


# --- drawing ----------------------------------------------------------------------------------

QUIET_ZONE = 4     # modules of light margin a scanner needs around the symbol


def rgb565_blit(framebuffer, width, left, top, code, scale, dark=0x0000, light=0xFFFF):
    """Draw `code` with its quiet zone into an RGB565 little-endian
    framebuffer `width` pixels wide, `scale` pixels a module, its top-left
    corner (quiet zone included) at (left, top). -> the side in pixels."""
    side = (code.size + 2 * QUIET_ZONE) * scale
    dark_pixel = bytes((dark & 0xFF, dark >> 8)) * scale
    light_pixel = bytes((light & 0xFF, light >> 8)) * scale
    quiet = light_pixel * QUIET_ZONE
    for module_y in range(-QUIET_ZONE, code.size + QUIET_ZONE):
        if 0 <= module_y < code.size:
            parts = [quiet]
            for x in range(code.size):
                parts.append(dark_pixel if code.dark(x, module_y) else light_pixel)
            parts.append(quiet)
            row = b"".join(parts)
        else:
            row = light_pixel * (code.size + 2 * QUIET_ZONE)
        y = top + (module_y + QUIET_ZONE) * scale
        start = (y * width + left) * 2
        for i in range(scale):
            at = start + i * width * 2
            framebuffer[at:at + len(row)] = row
    return side


def raster_rows(code, scale):
    """The code with its quiet zone as 1-bit raster rows (MSB first, 1 =
    dark, each row padded to whole bytes), as ESC/POS GS v 0 prints them.
    -> (width in bytes, [row bytes, ...])."""
    pixels = (code.size + 2 * QUIET_ZONE) * scale
    width_bytes = (pixels + 7) // 8
    rows = []
    for module_y in range(code.size + 2 * QUIET_ZONE):
        row = bytearray(width_bytes)
        y = module_y - QUIET_ZONE
        if 0 <= y < code.size:
            for x in range(code.size):
                if code.dark(x, y):
                    first = (x + QUIET_ZONE) * scale
                    for px in range(first, first + scale):
                        row[px >> 3] |= 0x80 >> (px & 7)
        for _ in range(scale):
            rows.append(bytes(row))
    return width_bytes, rows
