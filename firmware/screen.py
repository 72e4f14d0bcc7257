"""Draws a screen (title bar, body lines, footer) into a Display's framebuffer.

    render(display, "消费 SALE", ["请刷卡或插卡", "Swipe or insert card"],
           footer="取消:返回 CANCEL")

Layout, top to bottom (sizes for the 16-pixel font):
- a title bar in inverted colours, the title centred (cut if too long);
- the body: each line wrapped to the width (words kept whole for Latin
  text, CJK broken between characters, a closing punctuation mark never
  starting a row); a line beginning with ">" is the highlighted one (menu
  cursor): its rows are drawn inverted, the ">" itself is not drawn;
  rows that do not fit are dropped;
- an optional footer (key hints) at the bottom, under a rule, wrapped to at
  most FOOTER_MAX_ROWS rows.

With `status` (a dict, see draw_status), a status bar comes first, above
the title: signal bars, 4G, SIM, paper, the host link and the time, as a
handset shows them. `tone` colours the title bar: "ok" green (approved),
"error" red (declined, refused, failed), None black.

A body line beginning with "#" is a big one: its glyphs drawn twice as
wide and tall, right-aligned (the amount being typed); the "#" is not drawn
and not recorded.

Then display.show(title_as_drawn, rows) records the text: the body rows as
drawn (a highlighted row keeps its leading ">") followed by the footer rows,
so tests and the test protocol read what the glass shows.

Pixels are RGB565, little-endian, as hal/display.py keeps them. Pure Python
for MicroPython; for speed every glyph row is one slice assignment of
precomputed bytes (a table of the 256 possible 8-pixel runs per colour pair).
"""

from firmware.font import load_font

HEIGHT = 16           # glyph height, pixels
WHITE = 0xFFFF
BLACK = 0x0000
GREEN = 0x0467        # approved (RGB 0, 140, 56)
RED = 0xC8E3          # declined (RGB 200, 28, 24)
STATUS_BG = 0x2124    # the status bar (RGB 32, 36, 32)
GREY = 0x8410
LIGHT_GREEN = 0x2FE5
TONES = {None: BLACK, "ok": GREEN, "error": RED}

STATUS_HEIGHT = 18    # the status bar, when there is one
BIG = 2               # a big line's glyphs are this many times the font's size
BIG_RIGHT = 6         # pixels right of a big line (it is right-aligned)

MARGIN = 0            # left/right of text: 240 px hold 15 hanzi or 30 ASCII (texts.py)
TITLE_PAD = 2         # above and below the title text
ROW_PITCH = 18        # 16-pixel glyphs + 2 pixels between rows
BODY_GAP = 4          # between title bar and first row
FOOTER_MAX_ROWS = 2

# A row must not start with these: they stick to the character before them.
NO_ROW_START = "，。、：；！？）》」』】〕,.:;!?)]}%"


def _colour_bytes(colour):
    return bytes((colour & 0xFF, colour >> 8))


def _run(table, value):
    """Make (and keep) the run of one byte of font bits in a _run_table."""
    on, off = table[256]
    run = b""
    for bit in range(7, -1, -1):
        run += on if value & (1 << bit) else off
    table[value] = run
    return run


def _split_tokens(text, font):
    """-> list of (token, width_px, is_space). Latin words stay whole; each
    wide character is its own token; closing punctuation joins the token
    before it."""
    tokens = []
    word = ""
    word_width = 0
    for ch in text:
        width = font.char_width(ch)
        if ch == " ":
            if word:
                tokens.append((word, word_width, False))
                word, word_width = "", 0
            tokens.append((ch, width, True))
        elif ch in NO_ROW_START and not word and tokens and not tokens[-1][2]:
            last = tokens[-1]
            tokens[-1] = (last[0] + ch, last[1] + width, False)
        elif ord(ch) >= 0x2E80 and ch not in NO_ROW_START:  # CJK: a break anywhere
            if word:
                tokens.append((word, word_width, False))
                word, word_width = "", 0
            tokens.append((ch, width, False))
        else:
            word += ch
            word_width += width
    if word:
        tokens.append((word, word_width, False))
    return tokens


def wrap(text, width_px, font):
    """Break `text` into rows no wider than width_px pixels (ASCII 8 px,
    CJK 16 px). A newline forces a break; an empty text is one empty row.
    `font` only needs char_width(ch), so other units work too (escpos.wrap
    measures in printer columns)."""
    rows = []
    for paragraph in text.split("\n"):
        row = ""
        row_width = 0
        continued = False  # a row of this paragraph was already emitted
        for token, width, is_space in _split_tokens(paragraph, font):
            if is_space and continued and not row:
                continue  # no leading space on a continuation row
            if row_width + width <= width_px:
                row += token
                row_width += width
                continue
            if row:
                rows.append(row.rstrip(" "))
                row, row_width = "", 0
                continued = True
            if is_space:
                continue
            if width <= width_px:
                row, row_width = token, width
                continue
            # A word wider than the row: break it between characters.
            for ch in token:
                w = font.char_width(ch)
                if row and row_width + w > width_px:
                    rows.append(row)
                    row, row_width = "", 0
                    continued = True
                row += ch
                row_width += w
        rows.append(row)
    return rows


class Screen:
    """Draws on one display with one font; keeps the colour tables."""

    def __init__(self, display, font=None, fg=BLACK, bg=WHITE,
                 title_fg=WHITE, title_bg=BLACK):
        self.display = display
        self.font = font
        self.fg = fg
        self.bg = bg
        self.title_fg = title_fg
        self.title_bg = title_bg
        self._runs = {}    # (fg, bg, scale) -> 256 runs of 8 pixels (None until used) + the colours
        self._spans = {}   # (colour, pixels) -> bytes

    # -- pixel helpers

    def _run_table(self, fg, bg, scale=1):
        """The runs of 8 font bits (each `scale` pixels wide) in fg on bg,
        made as they are first needed: a colour pair used for a few glyphs
        (the status bar's) costs a few runs, not 256 (MicroPython's heap)."""
        key = (fg, bg, scale)
        table = self._runs.get(key)
        if table is None:
            table = [None] * 257
            table[256] = (_colour_bytes(fg) * scale, _colour_bytes(bg) * scale)
            self._runs[key] = table
        return table

    def _span(self, colour, pixels):
        key = (colour, pixels)
        span = self._spans.get(key)
        if span is None:
            span = _colour_bytes(colour) * pixels
            self._spans[key] = span
        return span

    def fill_rect(self, x, y, w, h, colour):
        d = self.display
        x0 = max(0, x)
        x1 = min(d.width, x + w)
        y0 = max(0, y)
        y1 = min(d.height, y + h)
        if x0 >= x1 or y0 >= y1:
            return
        span = self._span(colour, x1 - x0)
        fb = d.framebuffer
        stride = d.width * 2
        start = y0 * stride + x0 * 2
        end = start + len(span)
        for _ in range(y1 - y0):
            fb[start:end] = span
            start += stride
            end += stride

    def draw_text(self, x, y, text, fg, bg):
        """Draw one row of text at (x, y) (top left); glyphs that would
        cross the right or bottom edge are not drawn. -> x after the text."""
        d = self.display
        if y < 0 or y + HEIGHT > d.height:
            return x
        runs = self._run_table(fg, bg)
        fb = d.framebuffer
        stride = d.width * 2
        font = self.font
        limit = d.width
        for ch in text:
            width, bitmap = font.glyph(ord(ch))
            if x < 0 or x + width > limit:
                break
            at = y * stride + x * 2
            if width == 8:
                for row in range(HEIGHT):
                    bits = bitmap[row]
                    fb[at:at + 16] = runs[bits] or _run(runs, bits)
                    at += stride
            else:
                i = 0
                for row in range(HEIGHT):
                    bits = bitmap[i]
                    fb[at:at + 16] = runs[bits] or _run(runs, bits)
                    bits = bitmap[i + 1]
                    fb[at + 16:at + 32] = runs[bits] or _run(runs, bits)
                    at += stride
                    i += 2
            x += width
        return x

    def draw_big(self, x, y, text, fg, bg):
        """One row of text at BIG times the font's size (each font pixel a
        BIG x BIG block); -> x after the text. Like draw_text, every glyph
        row is slice assignments of precomputed runs (here BIG pixels a bit)."""
        d = self.display
        if y < 0 or y + HEIGHT * BIG > d.height:
            return x
        runs = self._run_table(fg, bg, BIG)
        fb = d.framebuffer
        stride = d.width * 2
        span = 8 * BIG * 2  # bytes of one glyph byte's run
        for ch in text:
            width, bitmap = self.font.glyph(ord(ch))
            if x < 0 or x + width * BIG > d.width:
                break
            per_row = width // 8
            at = y * stride + x * 2
            for row in range(HEIGHT):
                for byte in range(per_row):
                    bits = bitmap[row * per_row + byte]
                    run = runs[bits] or _run(runs, bits)
                    start = at + byte * span
                    for _ in range(BIG):
                        fb[start:start + span] = run
                        start += stride
                at += stride * BIG
            x += width * BIG
        return x

    def draw_status(self, top, status):
        """The status bar: `status` = {"signal": 0-31 or 99 (AT+CSQ),
        "modem": on, "sim": ready, "paper": present (left out: no roll drawn), "host": True (the last
        exchange got an answer) / False (it did not) / None (none yet),
        "time": (hour, minute)}."""
        width = self.display.width
        self.fill_rect(0, top, width, STATUS_HEIGHT, STATUS_BG)
        base = top + STATUS_HEIGHT - 3
        signal = status.get("signal", 99)
        lit = 0 if signal == 99 else (signal >= 2) + (signal >= 10) + (signal >= 15) + (signal >= 20)
        for bar in range(4):
            height = 4 + bar * 3
            self.fill_rect(3 + bar * 4, base - height, 3, height, WHITE if bar < lit else GREY)
        y = top + 1
        self.draw_text(22, y, "4G" if status.get("modem", True) else "--", WHITE if lit else GREY, STATUS_BG)
        self.draw_text(44, y, "SIM", WHITE if status.get("sim") else RED, STATUS_BG)
        # paper: a small roll, white when loaded, red when out; none on a
        # handset that does not print (setting paper none)
        if "paper" in status:
            paper = WHITE if status["paper"] else RED
            self.fill_rect(76, top + 3, 9, 12, paper)
            self.fill_rect(78, top + 6, 5, 1, STATUS_BG)
            self.fill_rect(78, top + 9, 5, 1, STATUS_BG)
        host = status.get("host")
        self.draw_text(92, y, "HOST", LIGHT_GREEN if host else (RED if host is False else GREY), STATUS_BG)
        hour, minute = status.get("time", (0, 0))
        self.draw_text(width - 44, y, "%02d:%02d" % (hour, minute), WHITE, STATUS_BG)

    # -- the screen

    def draw_line(self, x0, y0, x1, y1, colour, box, pen=2):
        """A line of `pen` x `pen` dots from (x0, y0) to (x1, y1), kept
        inside `box` (x, y, w, h): ink on the signing pad. -> (top, bottom)
        of the rows it touched, for Display.update()."""
        bx, by, bw, bh = box
        fb = self.display.framebuffer
        stride = self.display.width * 2
        dot = self._span(colour, pen)
        dx = abs(x1 - x0)
        dy = -abs(y1 - y0)
        sx = 1 if x0 < x1 else -1
        sy = 1 if y0 < y1 else -1
        err = dx + dy
        low, high = by, by + bh - pen
        top = min(max(min(y0, y1), low), high)
        bottom = min(max(max(y0, y1), low), high) + pen
        while True:
            # the dot's top left corner, moved in so the whole dot stays in the box
            x = min(max(x0, bx), bx + bw - pen)
            y = min(max(y0, low), high)
            at = y * stride + x * 2
            for _ in range(pen):
                fb[at:at + 2 * pen] = dot
                at += stride
            if x0 == x1 and y0 == y1:
                break
            e2 = 2 * err
            if e2 >= dy:
                err += dy
                x0 += sx
            if e2 <= dx:
                err += dx
                y0 += sy
        return top, bottom

    def render(self, title, lines, footer=None, status=None, tone=None, overlay=None):
        if self.font is None:
            self.font = load_font()
        d = self.display
        font = self.font
        width = d.width
        text_width = width - 2 * MARGIN

        self.fill_rect(0, 0, width, d.height, self.bg)

        top = 0
        if status is not None:
            self.draw_status(0, status)
            top = STATUS_HEIGHT

        # Title bar.
        title_bg = TONES.get(tone, self.title_bg) if tone else self.title_bg
        bar_height = HEIGHT + 2 * TITLE_PAD
        self.fill_rect(0, top, width, bar_height, title_bg)
        title_rows = wrap(title, text_width, font) if title else [""]
        title_drawn = title_rows[0]
        title_x = (width - font.text_width(title_drawn)) // 2
        self.draw_text(title_x, top + TITLE_PAD, title_drawn, self.title_fg, title_bg)
        bar_height += top

        # Footer, from the bottom up.
        footer_rows = []
        body_bottom = d.height
        if footer:
            footer_rows = wrap(footer, text_width, font)[:FOOTER_MAX_ROWS]
            top = d.height - len(footer_rows) * ROW_PITCH
            rule_y = top - 2
            self.fill_rect(0, rule_y, width, 1, self.fg)
            for k, row in enumerate(footer_rows):
                self.draw_text(MARGIN, top + k * ROW_PITCH + 1, row, self.fg, self.bg)
            body_bottom = rule_y - 1

        # Body.
        drawn = []
        y = bar_height + BODY_GAP
        for line in lines:
            if line.startswith("#"):
                # a big line: one row, right-aligned, cut if too wide
                big = line[1:]
                while big and font.text_width(big) * BIG > width - BIG_RIGHT:
                    big = big[:-1]
                if y + HEIGHT * BIG <= body_bottom:
                    self.draw_big(width - BIG_RIGHT - font.text_width(big) * BIG, y, big, self.fg, self.bg)
                    drawn.append(big)
                    y += ROW_PITCH * BIG
                continue
            highlighted = line.startswith(">")
            content = line[1:] if highlighted else line
            for row in wrap(content, text_width, font):
                if y + HEIGHT > body_bottom:
                    break
                if highlighted:
                    self.fill_rect(0, y - 1, width, ROW_PITCH, self.fg)
                    self.draw_text(MARGIN, y, row, self.bg, self.fg)
                    drawn.append(">" + row)
                else:
                    self.draw_text(MARGIN, y, row, self.fg, self.bg)
                    drawn.append(row)
                y += ROW_PITCH

        if overlay is not None:
            # what a screen draws over the body (the signing pad and its
            # buttons), before the one push to the glass; its text rows are
            # recorded after the body's
            drawn = drawn + list(overlay(self))
        d.show(title_drawn, drawn + footer_rows)
        return drawn + footer_rows


def screen_of(display, font=None):
    """The Screen (font, colour tables) kept on the display object, made
    at first use, so repeated calls reuse it."""
    screen = getattr(display, "_screen", None)
    if screen is None or (font is not None and screen.font is not font):
        screen = Screen(display, font)
        display._screen = screen
    if screen.font is None:
        screen.font = load_font()
    return screen


def render(display, title, lines, footer=None, font=None, status=None, tone=None, overlay=None):
    """Draw a screen on `display` and show it. `overlay(screen)`, when
    given, draws over the body before the screen is shown and returns the
    text rows it drew (recorded with the body's)."""
    return screen_of(display, font).render(title, lines, footer, status, tone, overlay)
