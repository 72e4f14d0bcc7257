"""Drive the app from a script: keys, cards, reading the screen and the
printouts. The test protocol (firmware/testproto.py), the emulator's script
mode and the MicroPython scenario all go through this one class, so they
see the handset the same way.
"""

from hal.compat import TimeoutError, hexlify, sha256, sleep_ms, ticks_diff, ticks_ms, wait_for_ms
from hal.keypad import KEYS
from firmware.log import mask_digits


class DriverError(Exception):
    pass


# What a test may change for a run (Driver.change_setting): what a flow
# does, never what guards the terminal (keys, MAC, the test port itself).
TEST_SETTINGS = ("esign", "esign_void", "esign_refund", "esign_timeout_ms", "esign_packet_bytes",
                 "esign_upload_tries", "paper", "qps_no_pin_limit_fen", "qps_no_signature_limit_fen")


class Driver:
    def __init__(self, app):
        self.app = app
        self._seen = 0  # display generation of the last screen wait_text matched
        self.can_reset = False  # the boot code can restart the app (firmware.main.Rebootable)

    def use(self, app):
        """Drive a new app (after a reboot)."""
        self.app = app
        self._seen = 0

    # -- input -----------------------------------------------------------------

    def key(self, name):
        if name not in KEYS:
            raise DriverError("unknown key %r" % name)
        self.app.devices.keypad.press(name)

    def keys(self, text):
        for ch in text:
            if ch not in "0123456789.":
                raise DriverError("keys takes digits and '.', not %r" % ch)
        for ch in text:
            self.app.devices.keypad.press(ch)

    def card(self, action, name=None):
        reader = self.app.devices.card_reader
        if not hasattr(reader, "swipe"):
            raise DriverError("this card reader cannot be driven (not simulated)")
        if action == "remove":
            reader.remove()
            return
        if action not in ("swipe", "insert", "tap"):
            raise DriverError("card action must be swipe, insert, tap or remove")
        from hal.sim.deck import find_card
        try:
            card = find_card(name)
        except KeyError as e:
            raise DriverError(str(e.args[0]))
        getattr(reader, action)(card)

    def scan(self, name_or_text):
        """The scanner reads a code: a payment code of the test deck by its
        name ("wx-pay"), or any text."""
        scanner = self.app.devices.scanner
        if not hasattr(scanner, "present"):
            raise DriverError("this scanner cannot be driven (not simulated)")
        scanner.present(name_or_text)

    async def sign(self, strokes):
        """Draw on the touch panel: `strokes` is a list of strokes, each a
        list of (x, y) screen pixels: the finger goes down on the first
        point, moves through the rest and lifts. A stroke of one point is
        a tap (a button on the screen). The loop runs between two points,
        so the screen takes each as a finger would give it."""
        touch = self.app.devices.touch
        if touch is None:
            raise DriverError("this handset has no touch panel")
        if not hasattr(touch, "press_at"):
            raise DriverError("this touch panel cannot be driven (not simulated)")
        for stroke in strokes:
            touch.press_at(stroke[0][0], stroke[0][1])
            await sleep_ms(1)
            for point in stroke[1:]:
                touch.move_to(point[0], point[1])
                await sleep_ms(1)
            touch.lift()
            await sleep_ms(1)

    def change_setting(self, name, value):
        """A setting changed for this run only (never saved: a reboot
        brings back the boot's), among those a test may change. -> the
        value it had."""
        if name not in TEST_SETTINGS:
            raise DriverError("setting %s cannot be changed from a test (these can: %s)"
                              % (name, ", ".join(TEST_SETTINGS)))
        from firmware.settings import SettingsError
        settings = self.app.settings
        was = getattr(settings, name)
        try:
            settings.update({name: value})
        except SettingsError as e:
            raise DriverError(str(e))
        return was

    # -- output ----------------------------------------------------------------

    def screen(self):
        display = self.app.devices.display
        return {"title": display.title, "lines": [mask_digits(l) for l in display.lines],
                "sha256": hexlify(sha256(bytes(display.framebuffer))),
                "width": display.width, "height": display.height}

    def framebuffer(self):
        """(width, height, a copy of the RGB565 framebuffer bytes)."""
        display = self.app.devices.display
        return display.width, display.height, bytes(display.framebuffer)

    def screen_text(self):
        display = self.app.devices.display
        return _screen_text(display.title, display.lines)

    def screens(self):
        """How many screens were shown since boot: screen N is the N-th."""
        return self.app.devices.display.generation

    def screens_since(self, number):
        """The remembered screens shown after screen `number`: [(number,
        text)], text as wait_text reads it (card numbers masked)."""
        return [(generation, _screen_text(title, lines))
                for generation, title, lines in self.app.devices.display.recent if generation > number]

    async def wait_text(self, text, timeout_ms=5000, since=None):
        """Wait until `text` is on a screen. Which screens count:
        - without `since`: the screen up now, and every screen shown after
          the one the last match found (that one included, so two waits for
          the same text can both match one screen); screens are remembered
          32 deep, so a message up for only a moment is not missed;
        - with `since` (a screen number from screens()): only screens shown
          after screen `since`, so a test waits for a new screen.
        Raises DriverError with the screen's lines if it never comes."""
        display = self.app.devices.display
        start = ticks_ms()
        while True:
            first = self._seen if since is None else since + 1
            for generation, title, lines in display.recent:
                if generation >= first and text in _screen_text(title, lines):
                    self._seen = generation
                    return True
            left = timeout_ms - ticks_diff(ticks_ms(), start)
            if left <= 0:
                raise DriverError("%r not on screen after %d ms; screen: %s"
                                  % (text, timeout_ms, " | ".join([display.title] + display.lines)))
            display.changed.clear()
            try:
                await wait_for_ms(display.changed.wait(), left)
            except TimeoutError:
                pass

    async def wait_idle(self, timeout_ms=10000):
        start = ticks_ms()
        while not self.app.idle_event.is_set():
            left = timeout_ms - ticks_diff(ticks_ms(), start)
            if left <= 0:
                raise DriverError("not back at the idle screen after %d ms; screen: %s"
                                  % (timeout_ms, self.screen_text().replace("\n", " | ")))
            try:
                await wait_for_ms(self.app.idle_event.wait(), left)
            except TimeoutError:
                pass
        return True

    def printout(self, since=0):
        """Slips printed from index `since` on: [(index, bytes)]."""
        app = self.app
        start = since - app.printouts_base
        if start < 0:
            start = 0
        return [(app.printouts_base + i, app.printouts[i]) for i in range(start, len(app.printouts))]

    def printout_count(self):
        return self.app.printouts_base + len(self.app.printouts)

    def receipt_lines(self, data):
        """A printed slip's ESC/POS bytes -> its text lines."""
        from firmware.escpos import decode_text
        return decode_text(data, self.app.gb_table)

    def info(self):
        """What a test needs to know about the handset before it starts:
        versions, screen, language, and whether it is ready to transact."""
        from firmware.operators import SUPERVISOR
        app = self.app
        settings = app.settings
        display = app.devices.display
        return {"firmware": self.app.version, "width": display.width, "height": display.height,
                "lang": settings.lang, "terminal_id": settings.terminal_id,
                "idle": app.idle_event.is_set(), "signed_on": app.signed_on,
                "card_reader": "sim" if hasattr(app.devices.card_reader, "swipe") else "hardware",
                "touch": _touch_kind(app.devices.touch),
                "touch_reports": app.devices.touch.reports if app.devices.touch is not None else None,
                "supervisor_factory": app.operators.is_factory(SUPERVISOR),
                "pw_max_failures": settings.pw_max_failures, "pw_lockout_s": settings.pw_lockout_s}

    def input_state(self):
        """Each input device as its kernel node holds it now and as its
        driver does ({"keypad", "touch", "scanner"}: the evdev drivers'
        input_state, hal/linux/evdev.py), None for one that cannot say (a
        simulated or serial device, none fitted). Reads only: a bench sees
        what a resync after an input overflow would read."""
        devices = self.app.devices
        state = {}
        for name in ("keypad", "touch", "scanner"):
            device = getattr(devices, name)
            state[name] = device.input_state() if hasattr(device, "input_state") else None
        return state

    def journal(self, batch=None):
        """The batch's transactions as the test protocol shows them (masked)."""
        state = self.app.state
        out = []
        for txn in state.batch_txns(batch):
            record = {"batch": txn["batch"], "trace": txn["trace"], "type": txn["type"],
                      "amount": txn["amount"], "status": _status(state, txn), "rrn": txn.get("rrn"),
                      "card": txn.get("pan"), "rc": txn.get("rc"), "orig": txn.get("orig"),
                      # MMDD as the host booked it: what a refund asks for
                      "date": txn.get("host_date") or txn.get("time", "")[4:8]}
            if txn["type"] == "sale" and txn["state"] == "approved":
                record["refunded"] = state.refunded_total(txn)
            out.append(record)
            if txn.get("cvm"):         # what 小额双免 waived (flows/common.quick_pass)
                record["cvm"] = txn["cvm"]
            if txn.get("order"):       # a QR payment: its order number and wallet
                record["order"] = txn["order"]
                record["channel"] = txn.get("channel")
        return out


def _touch_kind(touch):
    """What `sign` can do here: "sim" (drawn by the driver), "hardware"
    (a real panel: a finger, or the bench's own means), or None (no panel)."""
    if touch is None:
        return None
    return "sim" if hasattr(touch, "press_at") else "hardware"


def _status(state, txn):
    """The journal state, except that an approved sale that was voided
    since reads "voided", and one refunded (in part or whole) "refunded"
    (the amount refunded is in the record's "refunded")."""
    if txn["type"] == "sale" and txn["state"] == "approved":
        if state.voided_by(txn):
            return "voided"
        if state.refunded_total(txn):
            return "refunded"
    return txn["state"]


def _screen_text(title, lines):
    """A screen as the protocol and scripts read it: title and lines, card
    numbers masked."""
    return mask_digits("\n".join([title] + list(lines)))
