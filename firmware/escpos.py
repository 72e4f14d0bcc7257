"""ESC/POS encoder for a 58 mm (384-dot) thermal printer with a Chinese ROM.

Every function returns bytes; a printer backend only moves them (see
hal/printer.py). Chinese text is GB2312 (firmware/gb2312.py), and the
printer must be in Chinese mode (FS &) to read two-byte characters: `start()`
does that, so a receipt begins with it.

Commands (Epson ESC/POS command reference; the same values as
python-escpos's constants.py; FS & / FS . / FS ! from the Chinese-ROM
printers' manuals):

    ESC @        1B 40            initialise (clears modes)
    FS &  FS .   1C 26 / 1C 2E    Chinese (two-byte) mode on / off
    ESC a n      1B 61 n          align: 0 left, 1 centre, 2 right
    ESC E n      1B 45 n          bold off / on
    GS ! n       1D 21 n          size: width-1 in bits 4-6, height-1 in bits 0-2
    LF           0A               print the line and feed one
    ESC d n      1B 64 n          print and feed n lines
    GS V m       1D 56 m          cut: 0 full, 1 partial (many 58 mm handsets
                                  have no cutter: cutting is the caller's choice)
    GS ( k ...   1D 28 6B ...     QR code (model 2): store, then print
    GS v 0 m xL xH yL yH d...     raster bit image: x bytes a row, y rows, MSB the left dot
                 1D 76 30 ...     (the signature of an e-signed receipt)
    DLE EOT 4    10 04 04         real-time paper sensor status (one reply byte)

Font A on these printers is 12 x 24 dots for ASCII and 24 x 24 for hanzi:
32 columns on 384 dots, a hanzi taking two (`text_columns`).

`parse()` reads such bytes back into printed lines (with alignment, bold and
size) and `decode_text()` into plain text lines; the tests, the emulator's
paper view and the test protocol read receipts that way.
"""

from firmware import gb2312
# The real-time status (DLE EOT) lives with the printer in hal/, which the
# driver, the printer simulator and this module share.
from hal.escpos_status import status_request, parse_paper_status  # noqa: F401

ESC = 0x1B
GS = 0x1D
FS = 0x1C
DLE = 0x10
EOT = 0x04
LF = 0x0A
CR = 0x0D

PAPER_DOTS = 384
LINE_COLUMNS = 32  # Font A, 12 dots an ASCII column

LEFT = 0
CENTER = 1
RIGHT = 2
_ALIGN_NAMES = {"left": LEFT, "center": CENTER, "centre": CENTER, "right": RIGHT}

# Paper sensor states; the same strings as hal.printer.PAPER_OUT / PAPER_OK.
from hal.escpos_status import PAPER_NEAR_END, PAPER_OK, PAPER_OUT  # noqa: E402,F401

QR_ERROR_LEVELS = {"L": 48, "M": 49, "Q": 50, "H": 51}


def init():
    """ESC @: reset the printer's modes (alignment, bold, size)."""
    return b"\x1b@"


def chinese_on():
    """FS &: two-byte (GB2312) characters from here on."""
    return b"\x1c&"


def chinese_off():
    """FS .: back to one-byte code page characters."""
    return b"\x1c."


def start():
    """What every job begins with: reset, then Chinese mode."""
    return init() + chinese_on()


def align(where):
    """ESC a n; `where` is LEFT/CENTER/RIGHT or "left"/"center"/"right"."""
    if isinstance(where, str):
        if where not in _ALIGN_NAMES:
            raise ValueError("unknown alignment %r" % where)
        where = _ALIGN_NAMES[where]
    if where not in (LEFT, CENTER, RIGHT):
        raise ValueError("unknown alignment %r" % where)
    return bytes((ESC, 0x61, where))


def bold(on=True):
    """ESC E n."""
    return bytes((ESC, 0x45, 1 if on else 0))


def size(width=1, height=1):
    """GS ! n: character magnification, 1..8 each way."""
    if not (1 <= width <= 8 and 1 <= height <= 8):
        raise ValueError("size %dx%d out of 1..8" % (width, height))
    return bytes((GS, 0x21, ((width - 1) << 4) | (height - 1)))


def double(on=True):
    """Double width and height (GS ! 0x11), or back to normal (GS ! 0)."""
    return size(2, 2) if on else size(1, 1)


def line_feed():
    return b"\n"


def feed(lines):
    """ESC d n: print what is buffered and feed n lines (0..255)."""
    if not 0 <= lines <= 255:
        raise ValueError("feed %d out of 0..255" % lines)
    return bytes((ESC, 0x64, lines))


def cut(partial=True):
    """GS V 1 (partial) or GS V 0 (full). Only for printers with a cutter."""
    return bytes((GS, 0x56, 1 if partial else 0))


def end(feed_lines=4, with_cut=False):
    """Feed the last line past the tear bar, and cut if the printer can."""
    out = feed(feed_lines)
    if with_cut:
        out += cut(True)
    return out


def _printable(line):
    # A control character inside text would be read as a command (ESC, GS...)
    # or break a line in two: show it as "?" instead.
    out = []
    for ch in line:
        out.append("?" if (ord(ch) < 0x20 or ord(ch) == 0x7F) else ch)
    return "".join(out)


def text(line, table, newline=True):
    """A line of text in GB2312, then LF (unless newline=False, to continue
    the line with another style). Unmappable characters print as "?"."""
    data = gb2312.encode(_printable(line), table)
    return data + b"\n" if newline else data


def text_columns(line):
    """Columns a line takes in Font A: 1 for ASCII, 2 for anything wider."""
    n = 0
    for ch in line:
        n += 1 if ord(ch) < 0x80 else 2
    return n


def justify(left, right, columns=LINE_COLUMNS):
    """`left` and `right` on one line, spaces between (at least one)."""
    gap = columns - text_columns(left) - text_columns(right)
    return left + " " * (gap if gap > 0 else 1) + right


class _ColumnMeasure:
    """Measures in Font A columns, for screen.wrap."""

    def char_width(self, ch):
        return 1 if ord(ch) < 0x80 else 2


def wrap(line, columns=LINE_COLUMNS):
    """Break a line into rows of at most `columns` (Latin words kept whole,
    CJK broken anywhere), instead of letting the printer cut words in two."""
    from firmware.screen import wrap as wrap_rows
    return wrap_rows(line, columns, _ColumnMeasure())


def qr(data, module_size=6, error_level="M"):
    """A QR code (model 2) holding `data` (ASCII/bytes), via GS ( k."""
    if isinstance(data, str):
        data = data.encode()
    if not 1 <= module_size <= 16:
        raise ValueError("QR module size %d out of 1..16" % module_size)
    if error_level not in QR_ERROR_LEVELS:
        raise ValueError("QR error level %r not in L/M/Q/H" % error_level)
    if len(data) > 7089:
        raise ValueError("QR data too long")
    store = len(data) + 3
    return (
        b"\x1d(k\x04\x001A2\x00"                                   # model 2
        + b"\x1d(k\x03\x001C" + bytes((module_size,))
        + b"\x1d(k\x03\x001E" + bytes((QR_ERROR_LEVELS[error_level],))
        + b"\x1d(k" + bytes((store & 0xFF, store >> 8)) + b"1P0" + data
        + b"\x1d(k\x03\x001Q0"                                     # print
    )


def raster(bits, width, height):
    """GS v 0: a 1-bit image, `bits` one byte a pixel (1 = ink) row by row
    (firmware/esign.decode's form), at normal density."""
    if len(bits) != width * height:
        raise ValueError("%d pixels for a %dx%d image" % (len(bits), width, height))
    if not 0 < width <= PAPER_DOTS or not 0 < height <= 2047:
        raise ValueError("image %dx%d does not fit the paper" % (width, height))
    row_bytes = (width + 7) // 8
    out = bytearray(b"\x1dv0\x00" + bytes((row_bytes & 0xFF, row_bytes >> 8, height & 0xFF, height >> 8)))
    for y in range(height):
        at = y * width
        for first in range(0, width, 8):
            byte = 0
            for x in range(first, min(first + 8, width)):
                if bits[at + x]:
                    byte |= 0x80 >> (x - first)
            out.append(byte)
    return bytes(out)


# ---------------------------------------------------------------- reading back

class PrintedLine:
    """One printed line: alignment and (text, bold, width, height) segments."""

    def __init__(self, align_mode):
        self.align = align_mode
        self.segments = []
        self.qr = None  # bytes of a QR code printed on its own, else None
        self.image = None  # (width, height, row bytes) of a raster image printed on its own, else None

    @property
    def text(self):
        return "".join(seg[0] for seg in self.segments)

    def __repr__(self):
        return "PrintedLine(%d, %r)" % (self.align, self.segments)


class _Reader:
    """Printer state while walking the bytes of a job."""

    def __init__(self, data, table):
        self.data = data
        self.table = table
        self.lines = []
        self.reset()
        self.pending = bytearray()
        self.segments = []
        self.line_align = None
        self.qr_data = b""

    def reset(self):
        self.align = LEFT
        self.bold = False
        self.width = 1
        self.height = 1
        self.chinese = False

    def flush_text(self):
        if not self.pending:
            return
        if self.line_align is None:
            self.line_align = self.align  # ESC a counts at the start of a line
        if self.chinese:
            text_part = gb2312.decode(bytes(self.pending), self.table)
        else:
            # One-byte code page mode: we model ASCII only.
            text_part = "".join(chr(b) if b < 0x80 else "?" for b in self.pending)
        seg = self.segments[-1] if self.segments else None
        if seg and seg[1:] == (self.bold, self.width, self.height):
            self.segments[-1] = (seg[0] + text_part,) + seg[1:]
        else:
            self.segments.append((text_part, self.bold, self.width, self.height))
        self.pending = bytearray()

    def end_line(self):
        self.flush_text()
        line = PrintedLine(self.align if self.line_align is None else self.line_align)
        line.segments = self.segments
        self.lines.append(line)
        self.segments = []
        self.line_align = None

    def style_changed(self):
        self.flush_text()

    def need(self, at, count):
        if at + count > len(self.data):
            raise ValueError("ESC/POS command cut short at offset %d" % at)

    def unknown(self, at, length):
        raise ValueError("unknown ESC/POS command %s at offset %d"
                         % (" ".join("%02X" % b for b in self.data[at:at + length]), at))

    def run(self):
        data = self.data
        i = 0
        n = len(data)
        while i < n:
            b = data[i]
            if b == LF:
                self.end_line()
                i += 1
            elif b == CR:
                i += 1
            elif b == ESC:
                i = self.escape(i)
            elif b == GS:
                i = self.group(i)
            elif b == FS:
                i = self.field(i)
            elif b == DLE:
                self.need(i, 3)
                if data[i + 1] != EOT:
                    self.unknown(i, 2)
                i += 3  # real-time status request: nothing printed
            elif b < 0x20:
                self.unknown(i, 1)
            else:
                self.pending.append(b)
                # A two-byte character must not be split by the loop above.
                if self.chinese and b >= 0x80 and i + 1 < n and data[i + 1] >= 0x80:
                    self.pending.append(data[i + 1])
                    i += 1
                i += 1
        if self.pending or self.segments:
            self.end_line()  # text left in the buffer; a printer prints it at LF
        return self.lines

    def escape(self, i):
        data = self.data
        self.need(i, 2)
        cmd = data[i + 1]
        if cmd == 0x40:                      # ESC @
            self.style_changed()
            self.reset()
            return i + 2
        self.need(i, 3)
        arg = data[i + 2]
        if cmd == 0x61:                      # ESC a n
            self.align = arg % 48 if arg >= 48 else arg
        elif cmd == 0x45:                    # ESC E n
            self.style_changed()
            self.bold = bool(arg & 1)
        elif cmd == 0x21:                    # ESC ! n (print mode)
            self.style_changed()
            self.bold = bool(arg & 0x08)
            self.height = 2 if arg & 0x10 else 1
            self.width = 2 if arg & 0x20 else 1
        elif cmd == 0x64:                    # ESC d n: n line feeds
            if arg == 0 and (self.pending or self.segments):
                self.end_line()
            for _ in range(arg):
                self.end_line()
        elif cmd in (0x2D, 0x4D, 0x33, 0x74):  # underline, font, spacing, code page
            pass
        else:
            self.unknown(i, 2)
        return i + 3

    def group(self, i):
        data = self.data
        self.need(i, 3)
        cmd = data[i + 1]
        arg = data[i + 2]
        if cmd == 0x21:                      # GS ! n
            self.style_changed()
            self.width = ((arg >> 4) & 7) + 1
            self.height = (arg & 7) + 1
            return i + 3
        if cmd == 0x56:                      # GS V m [n]
            if self.pending or self.segments:
                self.end_line()
            return i + 4 if arg in (65, 66) else i + 3
        if cmd == 0x42:                      # GS B n (reverse): ignored
            return i + 3
        if cmd == 0x76 and arg in (0x30, 0x00):  # GS v 0 m xL xH yL yH data
            self.need(i, 8)
            row_bytes = data[i + 4] | (data[i + 5] << 8)
            rows = data[i + 6] | (data[i + 7] << 8)
            self.need(i + 8, row_bytes * rows)
            if self.pending or self.segments:
                self.end_line()
            line = PrintedLine(self.align)
            line.image = (row_bytes * 8, rows, bytes(data[i + 8:i + 8 + row_bytes * rows]))
            line.segments = [("[IMAGE:%dx%d]" % (row_bytes * 8, rows), False, 1, 1)]
            self.lines.append(line)
            return i + 8 + row_bytes * rows
        if cmd == 0x28 and arg == 0x6B:      # GS ( k pL pH cn fn ...
            self.need(i, 5)
            length = data[i + 3] | (data[i + 4] << 8)
            self.need(i + 5, length)
            body = data[i + 5:i + 5 + length]
            if len(body) >= 3 and body[0] == 0x31:
                if body[1] == 0x50:          # store
                    self.qr_data = bytes(body[3:])
                elif body[1] == 0x51:        # print
                    if self.pending or self.segments:
                        self.end_line()
                    line = PrintedLine(self.align)
                    line.qr = self.qr_data
                    line.segments = [("[QR:%s]" % self.qr_data.decode(), False, 1, 1)]
                    self.lines.append(line)
            return i + 5 + length
        self.unknown(i, 2)

    def field(self, i):
        data = self.data
        self.need(i, 2)
        cmd = data[i + 1]
        if cmd == 0x26:                      # FS &
            self.style_changed()
            self.chinese = True
            return i + 2
        if cmd == 0x2E:                      # FS .
            self.style_changed()
            self.chinese = False
            return i + 2
        if cmd == 0x21:                      # FS ! n: Chinese print mode
            self.need(i, 3)
            arg = data[i + 2]
            self.style_changed()
            self.width = 2 if arg & 0x04 else 1
            self.height = 2 if arg & 0x08 else 1
            return i + 3
        self.unknown(i, 2)


def parse(data, table):
    """ESC/POS bytes -> list of PrintedLine, as the printer would print them
    (long lines are not wrapped here). Raises ValueError on a command this
    module does not know, so a stray byte in a receipt is caught."""
    return _Reader(data, table).run()


def decode_text(data, table):
    """ESC/POS bytes -> the printed text, one str a line. A QR code reads
    as "[QR:<data>]", a raster image as "[IMAGE:<width>x<height>]"."""
    return [line.text for line in parse(data, table)]
