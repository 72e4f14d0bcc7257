"""Screens and prompts. Every wait has a timeout and honours CANCEL.

A prompt draws a screen, then reads events from the app's queue until it
has its answer. CANCEL raises Cancelled, the timeout raises TimedOut; the
flow runner turns both into a message and the idle screen. Events a prompt
does not want (a card swiped while typing an amount) are dropped: a real
terminal ignores them too.
"""

from hal.card_reader import REMOVE
from hal.compat import ticks_diff, ticks_ms
from firmware.errors import Cancelled, PosError, TimedOut
from firmware.texts import MESSAGES, format_amount, text

MAX_AMOUNT_DIGITS = 10


class UI:
    def __init__(self, display, events, settings, draw, status=None):
        self._display = display
        self._events = events
        self._settings = settings
        self._draw = draw  # draw(display, title, lines, footer, status=, tone=): firmware.screen.render
        self._status = status  # -> the status bar's dict (App.status_bar), or None: no status bar

    def t(self, code, *args):
        return text(self._settings.lang, code, *args)

    # -- drawing ---------------------------------------------------------------

    def show(self, title, lines, footer=None, tone=None, overlay=None):
        """Draw a screen. `title` and each line may be a message code
        (upper-case, in texts.MESSAGES) or already a string. `tone`: "ok"
        (approved) or "error" colours the title bar. `overlay(screen)`:
        draws over the body before the screen is shown (firmware/screen.py
        render), -> its text rows. -> the rows drawn."""
        status = self._status() if self._status is not None else None
        if overlay is None:
            return self._draw(self._display, self._resolve(title), [self._resolve(l) for l in lines],
                              self._resolve(footer) if footer else None, status=status, tone=tone)
        return self._draw(self._display, self._resolve(title), [self._resolve(l) for l in lines],
                          self._resolve(footer) if footer else None, status=status, tone=tone, overlay=overlay)

    def _resolve(self, item):
        if isinstance(item, tuple):
            return self.t(item[0], *item[1:])
        if isinstance(item, str) and item in MESSAGES:
            return self.t(item)
        return item

    # -- events ----------------------------------------------------------------

    async def next_event(self, timeout_ms=None):
        """The next event, or raise TimedOut. Printer events are for the
        printing code only, touch events for the signing screen only
        (firmware/signpad.py reads them itself), so a prompt never sees
        them: a thumb on the glass must not restart its timeout."""
        timeout_ms = self._settings.ui_timeout_ms if timeout_ms is None else timeout_ms
        start = ticks_ms()
        while True:
            left = timeout_ms - ticks_diff(ticks_ms(), start)
            if left <= 0:
                raise TimedOut()
            event = await self._events.get(left)
            if event is None:
                raise TimedOut()
            if event[0] not in ("printer", "touch"):
                return event

    async def wait_key(self, keys=None, timeout_ms=None):
        """A key from `keys` (any key if None). CANCEL always raises Cancelled."""
        while True:
            kind, value = await self.next_event(timeout_ms)
            if kind != "key":
                continue
            if value == "CANCEL":
                raise Cancelled()
            if keys is None or value in keys:
                return value

    def drain(self):
        """Forget queued events (keys pressed during a host exchange must not
        answer the next prompt: that is how double ENTERs pay twice)."""
        self._events.clear()

    # -- prompts ---------------------------------------------------------------

    async def ask_amount(self, title, prompt="ENTER_AMOUNT", max_fen=None, lines=(), digits=""):
        """Amount in fen, typed as on a calculator: 1 2 3 4 -> 12.34.
        `digits`: already typed (the key that woke the idle screen)."""
        while True:
            fen = int(digits) if digits else 0
            # "#": the amount in big digits (firmware/screen.py)
            self.show(title, list(lines) + [prompt, "#" + format_amount(fen)], "KEYS_HINT")
            key = await self.wait_key()
            if key == "ENTER":
                if fen == 0:
                    await self.message(title, ["AMOUNT_ZERO"])
                    continue
                if max_fen is not None and fen > max_fen:
                    await self.message(title, ["AMOUNT_TOO_LARGE"])
                    digits = ""
                    continue
                return fen
            if key == "CLEAR":
                digits = digits[:-1]
            elif key.isdigit() and len(digits + key) <= MAX_AMOUNT_DIGITS:
                digits = (digits + key).lstrip("0")

    async def ask_digits(self, title, prompt, min_len, max_len, secret=False, allow_empty=False,
                         lines=()):
        """A string of digits (trace number, password, PIN). ENTER accepts
        once min_len..max_len digits are typed; CLEAR erases one."""
        digits = ""
        while True:
            shown = "*" * len(digits) if secret else digits
            self.show(title, list(lines) + [prompt, "", "    " + shown + "_"], "KEYS_HINT")
            key = await self.wait_key()
            if key == "ENTER":
                if (allow_empty and not digits) or min_len <= len(digits) <= max_len:
                    return digits
            elif key == "CLEAR":
                digits = digits[:-1]
            elif key.isdigit() and len(digits + key) <= max_len:
                digits += key

    async def confirm(self, title, lines):
        self.show(title, list(lines) + ["", "CONFIRM"], "KEYS_HINT")
        await self.wait_key(("ENTER",))

    async def choose(self, title, options):
        """A numbered menu; returns the index of the chosen option."""
        self.show(title, options, "KEYS_HINT")
        keys = tuple(str(i + 1) for i in range(len(options)))
        return keys.index(await self.wait_key(keys))

    async def message(self, title, lines, wait_ms=None, tone=None):
        """Show a result; it stays until a key or `wait_ms` (setting
        message_ms) passes. Never raises for CANCEL or the timeout.
        `tone`: "ok" for an approval, "error" for a refusal (title colour)."""
        self.show(title, lines, "PRESS_KEY", tone)
        await self._until_key(self._settings.message_ms if wait_ms is None else wait_ms)

    async def code_message(self, title, lines, payload, tone=None):
        """A QR code for the customer's phone (show_code) that stays until
        a key or the ui timeout: scanning takes a while. Never raises for
        CANCEL or the timeout."""
        self.show_code(title, lines, payload, tone)
        await self._until_key(self._settings.ui_timeout_ms)

    async def _until_key(self, wait_ms):
        try:
            while True:
                kind, _ = await self.next_event(wait_ms)
                if kind == "key":
                    return
        except TimedOut:
            return

    async def error(self, title, error):
        await self.message(title, [(error.code,) + tuple(error.args_)], tone="error")

    async def wait_card(self, title, lines, timeout_ms=None):
        """Wait for a swipe, insert or tap; -> CardEvent. Removal of a card
        that was not asked for is ignored."""
        self.show(title, list(lines) + ["PRESENT_CARD"], "KEYS_HINT")
        while True:
            kind, value = await self.next_event(timeout_ms)
            if kind == "key" and value == "CANCEL":
                raise Cancelled()
            if kind == "card" and value.action != REMOVE:
                return value

    async def wait_scan(self, title, lines, timeout_ms=None):
        """Wait for the scanner to read a code; -> its text. CANCEL leaves."""
        self.show(title, list(lines) + ["QR_SCAN_PROMPT"], "KEYS_HINT")
        while True:
            kind, value = await self.next_event(timeout_ms)
            if kind == "key" and value == "CANCEL":
                raise Cancelled()
            if kind == "scan":
                return value

    def show_code(self, title, lines, payload, tone=None):
        """A screen with a QR code under its text lines, for a phone to
        scan; the code's text is also kept among the screen's lines (tests
        and the test protocol read it there)."""
        from firmware import qr
        rows = self.show(title, lines, tone=tone) or []
        display = self._display
        code = qr.encode(payload, "M")
        modules = code.size + 2 * qr.QUIET_ZONE
        # the status bar, the title bar and the text rows above the code
        used = (18 if self._status is not None else 0) + 24 + 18 * len(rows)
        scale = max(1, min(display.width, display.height - used) // modules)
        side = modules * scale
        top = used + (display.height - used - side) // 2
        qr.rgb565_blit(display.framebuffer, display.width, (display.width - side) // 2, top, code, scale)
        display.show(display.title, display.lines + ["QR: " + payload])

    async def wait_card_removed(self, reader, title, lines=()):
        if not reader.card_present():
            return
        self.show(title, list(lines) + ["REMOVE_CARD"])
        while reader.card_present():
            try:
                await self.next_event(self._settings.ui_timeout_ms)
            except (TimedOut, PosError):
                return
