"""A receipt as the 58 mm printer would print it: a 384-dot-wide paper strip.

Reads the ESC/POS bytes (firmware.escpos.parse) and draws each line with the
screen's font (firmware/assets/font16.bin), scaled to the printer's Font A
cell: 12 x 24 dots for ASCII, 24 x 24 for hanzi, so 32 ASCII columns a line
as on the real paper. Alignment, bold and GS ! sizes are honoured; a line
longer than the paper wraps between characters, as the printer does; a QR
code is drawn as a labelled placeholder square (no QR encoder here); a
raster image (GS v 0: an e-signature) dot for dot.
"""

from PIL import Image, ImageDraw

from firmware import escpos
from firmware.font import load_font

PAPER_WIDTH = escpos.PAPER_DOTS  # 384
CELL_HEIGHT = 24                 # Font A
LINE_GAP = 6                     # dots between lines (30-dot pitch, ESC 2 default)
TOP_MARGIN = 12
BOTTOM_MARGIN = 12
QR_SIDE = 144
INK = 0
PAPER = 255


class PaperRenderer:
    """Draws printed lines; keeps scaled glyphs between calls."""

    def __init__(self, font=None):
        self.font = font or load_font()
        self._glyphs = {}

    def glyph(self, cp, width_mul, height_mul):
        """-> a mode "1" mask of one character at printer size."""
        key = (cp, width_mul, height_mul)
        mask = self._glyphs.get(key)
        if mask is None:
            width, bitmap = self.font.glyph(cp)
            small = Image.frombytes("1", (width, 16), bytes(bitmap))
            size = (width * 3 // 2 * width_mul, CELL_HEIGHT * height_mul)
            mask = small.resize(size, Image.NEAREST)
            self._glyphs[key] = mask
        return mask

    def _char_width(self, ch, width_mul):
        return self.font.char_width(ch) * 3 // 2 * width_mul

    def _rows(self, line):
        """Split a printed line into rows of at most PAPER_WIDTH dots:
        each row a list of (char, bold, width_mul, height_mul)."""
        rows = [[]]
        used = 0
        for text, bold, width_mul, height_mul in line.segments:
            for ch in text:
                w = self._char_width(ch, width_mul)
                if used + w > PAPER_WIDTH and rows[-1]:
                    rows.append([])
                    used = 0
                rows[-1].append((ch, bold, width_mul, height_mul))
                used += w
        return rows

    def render(self, lines):
        """PrintedLine list -> an "L" image PAPER_WIDTH wide."""
        # Lay out first, to know the height.
        placed = []  # (kind, y, payload)
        y = TOP_MARGIN
        for line in lines:
            if line.qr is not None:
                placed.append(("qr", y, line))
                y += QR_SIDE + CELL_HEIGHT + LINE_GAP
                continue
            if line.image is not None:
                placed.append(("image", y, line))
                y += line.image[1] + LINE_GAP
                continue
            for row in self._rows(line):
                tallest = max([c[3] for c in row] or [1])
                placed.append(("text", y, (line.align, row, tallest)))
                y += CELL_HEIGHT * tallest + LINE_GAP
        image = Image.new("L", (PAPER_WIDTH, y + BOTTOM_MARGIN), PAPER)
        draw = ImageDraw.Draw(image)
        for kind, top, payload in placed:
            if kind == "qr":
                self._draw_qr(image, draw, top, payload)
            elif kind == "image":
                self._draw_image(image, top, payload)
            else:
                self._draw_row(image, top, *payload)
        return image

    def _draw_row(self, image, top, align, row, tallest):
        width = sum(self._char_width(c[0], c[2]) for c in row)
        if align == escpos.CENTER:
            x = (PAPER_WIDTH - width) // 2
        elif align == escpos.RIGHT:
            x = PAPER_WIDTH - width
        else:
            x = 0
        baseline = top + CELL_HEIGHT * tallest
        for ch, bold, width_mul, height_mul in row:
            mask = self.glyph(ord(ch), width_mul, height_mul)
            y = baseline - mask.size[1]
            image.paste(INK, (x, y), mask)
            if bold:
                image.paste(INK, (x + 1, y), mask)  # the printer's bold: one dot wider
            x += mask.size[0]

    def _draw_image(self, image, top, line):
        """A raster image (GS v 0) dot for dot: a set bit is a black dot."""
        width, height, rows = line.image
        width = min(width, PAPER_WIDTH)
        row_bytes = line.image[0] // 8
        mask = Image.frombytes("1", (row_bytes * 8, height), bytes(rows)).crop((0, 0, width, height))
        if line.align == escpos.CENTER:
            left = (PAPER_WIDTH - width) // 2
        elif line.align == escpos.RIGHT:
            left = PAPER_WIDTH - width
        else:
            left = 0
        image.paste(INK, (left, top), mask)

    def _draw_qr(self, image, draw, top, line):
        if line.align == escpos.LEFT:
            left = 0
        elif line.align == escpos.RIGHT:
            left = PAPER_WIDTH - QR_SIDE
        else:
            left = (PAPER_WIDTH - QR_SIDE) // 2
        box = (left, top, left + QR_SIDE - 1, top + QR_SIDE - 1)
        draw.rectangle(box, outline=INK, width=3)
        for corner_x, corner_y in ((left, top), (left + QR_SIDE - 42, top),
                                   (left, top + QR_SIDE - 42)):
            draw.rectangle((corner_x + 6, corner_y + 6, corner_x + 35, corner_y + 35), fill=INK)
            draw.rectangle((corner_x + 12, corner_y + 12, corner_x + 29, corner_y + 29), fill=PAPER)
            draw.rectangle((corner_x + 17, corner_y + 17, corner_x + 24, corner_y + 24), fill=INK)
        caption = escpos.PrintedLine(escpos.CENTER)
        caption.segments = [("QR", False, 1, 1)]
        self._draw_row(image, top + QR_SIDE, escpos.CENTER, self._rows(caption)[0], 1)


def receipt_image(data, table, font=None):
    """ESC/POS bytes -> the paper strip as a PIL image ("L", 384 wide)."""
    return PaperRenderer(font).render(escpos.parse(data, table))


def lines_image(lines, font=None):
    """Plain text lines (e.g. from escpos.decode_text) -> paper strip."""
    printed = []
    for text in lines:
        line = escpos.PrintedLine(escpos.LEFT)
        line.segments = [(text, False, 1, 1)]
        printed.append(line)
    return PaperRenderer(font).render(printed)


def save_receipt_png(data, table, path, font=None):
    receipt_image(data, table, font).save(path, "PNG")
    return path
