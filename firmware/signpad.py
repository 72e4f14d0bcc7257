"""The signing screen (电子签名): the cardholder signs on the touch panel.

    image = await signpad.ask_signature(app, "SALE", txn)
    # -> firmware/esign.encode() bytes, or None: no e-signature (CANCEL, the
    #    time limit, no touch panel): the paper slip is the fallback

Above, what is being signed for: the amount, the masked card, the feature
code (特征码) that ties the signature to the transaction. Below, the pad
and two buttons, 清除 CLEAR and 确认 CONFIRM, which are also keys:
- ink follows the finger: each move draws one segment and pushes only the
  rows it touched to the glass (Display.update), never the whole screen;
  points that queued up meanwhile (a slow CPU) are inked together and
  pushed once;
- a stroke that starts in the pad is ink (points beyond its edge stay on
  the edge); one that starts on a button presses it, and the button acts
  when the finger lifts on it; anywhere else it is ignored;
- CLEAR wipes the pad; ENTER or the button confirms; confirming an empty
  pad says "please sign" and the pad comes back as it was;
- CANCEL, or setting esign_timeout_ms without a confirmed signature: None.

The image is made from the strokes drawn on the pad, exactly the ink the
cardholder saw. The layout is fixed for a screen size (layout()): the HIL
suite signs and taps by these coordinates.
"""

from hal.compat import ticks_diff, ticks_ms
from hal.touch import DOWN, MOVE, UP
from firmware import esign
from firmware.esign_message import txn_feature_code
from firmware.screen import BLACK, GREEN, GREY, WHITE, screen_of
from firmware.texts import format_amount

INK = 0x0014          # dark blue, a ballpoint's (RGB 0, 0, 160)
PAD_EDGE = GREY
CLEAR_BG = 0x528A     # dark grey (RGB 80, 80, 80)
PEN = 2               # ink dots, pixels square
PAD_TOP = 118         # under the status bar, the title and four text rows (see _lines)
BUTTON_HEIGHT = 36
GAP = 4
# A signature has a few hundred points; a finger stuck on a noisy panel
# must not fill the heap: ink past this is not taken.
MAX_INK_POINTS = 4096


def layout(width, height):
    """-> {"pad": box, "clear": box, "confirm": box}, boxes as (x, y, w, h)
    in screen pixels: the pad from PAD_TOP down to the buttons, the two
    buttons side by side along the bottom."""
    button_y = height - GAP - BUTTON_HEIGHT
    half = (width - 3 * GAP) // 2
    return {"pad": (GAP, PAD_TOP, width - 2 * GAP, button_y - GAP - PAD_TOP),
            "clear": (GAP, button_y, half, BUTTON_HEIGHT),
            "confirm": (width - GAP - half, button_y, half, BUTTON_HEIGHT)}


def inside(box, x, y):
    bx, by, bw, bh = box
    return bx <= x < bx + bw and by <= y < by + bh


class SigningScreen:
    """The screen and what is drawn on its pad: `strokes` holds the ink,
    each stroke a list of (x, y) in screen pixels, inside the pad."""

    def __init__(self, app, title, txn):
        self.app = app
        self.title = title
        self.txn = txn
        display = app.devices.display
        self.display = display
        self.boxes = layout(display.width, display.height)
        self.strokes = []
        self._pen = None        # the stroke being drawn, while a finger is down on the pad
        self._pressed = None    # the button a finger went down on ("clear", "confirm")
        self._dirty = None      # (top, bottom): rows inked since the last push to the glass
        self._points = 0        # in all strokes (MAX_INK_POINTS)

    # -- drawing ---------------------------------------------------------------

    def _lines(self):
        txn = self.txn
        lines = [("AMOUNT", format_amount(txn["amount"]))]
        if txn.get("pan"):
            lines.append(("CARD_NO", txn["pan"]))   # the journal's PAN is masked already
        # the same code the upload carries (FF70): F15 of the reply (else
        # the local date) and the RRN
        code = txn_feature_code(txn)
        if code:
            lines.append(("ESIGN_FEATURE", code))
        lines.append("ESIGN_HINT")
        return lines

    def draw(self):
        """The whole screen, with the ink drawn so far (after a message)."""
        self.app.ui.show(self.title, self._lines(), overlay=self._draw_pad_and_buttons)

    def _draw_pad_and_buttons(self, screen):
        self._draw_pad(screen)
        labels = []
        for name, code, fg, bg in (("clear", "ESIGN_CLEAR", WHITE, CLEAR_BG),
                                   ("confirm", "ESIGN_CONFIRM", WHITE, GREEN)):
            x, y, w, h = self.boxes[name]
            label = self.app.ui.t(code)
            screen.fill_rect(x, y, w, h, bg)
            text_w = screen.font.text_width(label)
            screen.draw_text(x + (w - text_w) // 2, y + (h - 16) // 2, label, fg, bg)
            labels.append("[%s]" % label)
        return ["  ".join(labels)]

    def _draw_pad(self, screen):
        x, y, w, h = self.boxes["pad"]
        screen.fill_rect(x, y, w, h, WHITE)
        screen.fill_rect(x, y, w, 1, PAD_EDGE)
        screen.fill_rect(x, y + h - 1, w, 1, PAD_EDGE)
        screen.fill_rect(x, y, 1, h, PAD_EDGE)
        screen.fill_rect(x + w - 1, y, 1, h, PAD_EDGE)
        # the line to sign on, a third of the way up, with its cross
        base = y + h * 2 // 3
        screen.fill_rect(x + 12, base, w - 24, 1, GREY)
        screen.draw_text(x + 12, base - 18, "X", BLACK, WHITE)
        for stroke in self.strokes:
            self._ink(screen, stroke[0], stroke[0])
            for a, b in zip(stroke, stroke[1:]):
                self._ink(screen, a, b)

    def _ink(self, screen, a, b):
        return screen.draw_line(a[0], a[1], b[0], b[1], INK, self.boxes["pad"], PEN)

    def _screen(self):
        return screen_of(self.display)

    def clear(self):
        """Wipe the pad: only its rows go to the glass."""
        self.strokes = []
        self._points = 0
        self._pen = None
        self._dirty = None
        self._draw_pad(self._screen())
        x, y, w, h = self.boxes["pad"]
        self.display.update(y, y + h)

    # -- the finger ------------------------------------------------------------

    def _on_pad(self, x, y):
        """A point moved onto the pad (a finger that slid off it draws along its edge)."""
        px, py, pw, ph = self.boxes["pad"]
        return min(max(x, px), px + pw - 1), min(max(y, py), py + ph - 1)

    def touch(self, phase, x, y):
        """One touch event -> "clear" or "confirm" when a button was
        tapped (the finger lifted on the button it went down on), else None."""
        if phase == DOWN:
            self._pressed = None
            if inside(self.boxes["pad"], x, y):
                if self._points >= MAX_INK_POINTS:
                    self._pen = None
                    return None
                self._pen = [(x, y)]
                self._points += 1
                self.strokes.append(self._pen)
                self._draw_segment((x, y), (x, y))
                return None
            self._pen = None
            for name in ("clear", "confirm"):
                if inside(self.boxes[name], x, y):
                    self._pressed = name
            return None
        if phase == MOVE:
            if self._pen is not None and self._points < MAX_INK_POINTS:
                point = self._on_pad(x, y)
                self._draw_segment(self._pen[-1], point)
                self._pen.append(point)
                self._points += 1
            return None
        if phase == UP:
            self._pen = None
            pressed, self._pressed = self._pressed, None
            if pressed is not None and inside(self.boxes[pressed], x, y):
                return pressed
        return None

    def _draw_segment(self, a, b):
        top, bottom = self._ink(self._screen(), a, b)
        if self._dirty is not None:
            top, bottom = min(top, self._dirty[0]), max(bottom, self._dirty[1])
        self._dirty = (top, bottom)

    def push(self):
        """The rows inked since the last push, to the glass at once."""
        if self._dirty is not None:
            self.display.update(self._dirty[0], self._dirty[1])
            self._dirty = None

    def image(self):
        """The ink as the acquirer takes it (esign.encode of rasterize)."""
        bits = esign.rasterize(self.strokes)
        return esign.encode(bits, esign.IMAGE_WIDTH, esign.IMAGE_HEIGHT)


async def ask_signature(app, title, txn):
    """The signing screen until the cardholder confirms a signature (-> the
    image bytes) or there is none (-> None): CANCEL, the time limit
    (setting esign_timeout_ms), or a model without a touch panel."""
    touch = app.devices.touch
    if touch is None:
        return None
    touch.clear()   # a finger on the glass before this screen is not ink
    pad = SigningScreen(app, title, txn)
    pad.draw()
    limit_ms = app.settings.esign_timeout_ms
    start = ticks_ms()
    while True:
        left = limit_ms - ticks_diff(ticks_ms(), start)
        if left <= 0:
            app.log("trace %06d: no e-signature within %d s", txn["trace"], limit_ms // 1000)
            return None
        event = await app.events.get(left)
        if event is None:
            continue
        action = _action(pad, event)
        # A finger that ran ahead of the glass (a slow CPU) has left more
        # points queued: ink them all, then push their rows once.
        while action is None and len(app.events):
            action = _action(pad, app.events.get_nowait())
        pad.push()
        if action == "clear":
            pad.clear()
        elif action == "cancel":
            app.log("trace %06d: e-signature declined (CANCEL)", txn["trace"])
            return None
        elif action == "confirm":
            if pad.strokes:
                image = pad.image()
                app.log("trace %06d: e-signature taken, %d bytes", txn["trace"], len(image))
                return image
            await app.ui.message(title, ["ESIGN_PLEASE_SIGN"])
            pad.draw()


def _action(pad, event):
    """One event -> what it asks of the screen: "clear", "confirm",
    "cancel", or None (ink drawn, or nothing for this screen)."""
    kind, value = event
    if kind == "touch":
        return pad.touch(value[0], value[1], value[2])
    if kind == "key":
        return {"CLEAR": "clear", "ENTER": "confirm", "CANCEL": "cancel"}.get(value)
    return None
