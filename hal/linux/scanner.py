"""2D code scanners on a Linux handset: the reader of customers' payment
codes (docs/QR.md).

    scanner:/dev/ttyACM0?baud=9600    a serial scanner module: each code
                                      arrives as one line of ASCII ending
                                      in CR, LF or both (the factory
                                      setting of the common modules)
    wedge:/dev/input/event3           a keyboard-wedge scanner: the code
                                      "typed" as key presses, Enter last

Both post ("scan", text) once per code through hal.scanner.Scanner. A line
too long to be a code, or with bytes that are not printable ASCII, is
dropped: noise on the line must never become a payment attempt. So is the
code a wedge scanner was typing when the kernel dropped key events
(SYN_DROPPED). When the device goes away (EOF, EIO) `failure` says why and
nothing more is posted.
"""

from hal.linux.evdev import EV_KEY, PRESS, EventFile, _Watching, any_down, default_record_size, parse_record_size
from hal.linux.serial import DeviceGone, SerialPort, parse_baud, stop_task
from hal.scanner import MAX_CODE_LENGTH, Scanner

LINE_ENDS = b"\r\n"


class LineCollector:
    """Bytes in, whole lines out; a line past MAX_CODE_LENGTH is dropped up
    to its end (noise, or a reader that lost its terminator)."""

    def __init__(self):
        self._line = bytearray()
        self._overflow = False

    def feed(self, data):
        lines = []
        for byte in data:
            if byte in LINE_ENDS:
                if self._line and not self._overflow:
                    lines.append(bytes(self._line))
                self._line = bytearray()
                self._overflow = False
            elif len(self._line) >= MAX_CODE_LENGTH:
                self._overflow = True
            else:
                self._line.append(byte)
        return lines


def printable(line):
    """The line as text if every byte is printable ASCII, else None."""
    for byte in line:
        if byte < 0x20 or byte > 0x7E:
            return None
    return line.decode()


class SerialScanner(Scanner):
    def __init__(self, path, baud=9600):
        Scanner.__init__(self)
        self.port = SerialPort(path, baud, "scanner")
        self.lines = LineCollector()
        self.failure = None
        self._task = None

    @classmethod
    def from_address(cls, path, baud="9600"):
        if not path:
            raise TypeError("scanner: needs the serial device, like scanner:/dev/ttyACM0")
        return cls(path, parse_baud(baud))

    def start(self):
        from hal.compat import asyncio
        if self._task is None:
            self._task = asyncio.create_task(self._read_forever())

    async def _read_forever(self):
        while True:
            try:
                data = await self.port.read(256, None)
            except DeviceGone as e:
                self.failure = str(e)
                return
            for line in self.lines.feed(data):
                text = printable(line)
                if text is not None:
                    self.scanned(text)

    def close(self):
        stop_task(self._task)
        self._task = None
        self.port.close()


# evdev key codes of a US keyboard layout, as wedge scanners type (Linux
# input-event-codes.h): what payment codes and their URLs are made of.
WEDGE_KEYS = {2: "1", 3: "2", 4: "3", 5: "4", 6: "5", 7: "6", 8: "7", 9: "8", 10: "9", 11: "0",
              12: "-", 13: "=", 16: "q", 17: "w", 18: "e", 19: "r", 20: "t", 21: "y", 22: "u", 23: "i",
              24: "o", 25: "p", 30: "a", 31: "s", 32: "d", 33: "f", 34: "g", 35: "h", 36: "j", 37: "k",
              38: "l", 39: ";", 44: "z", 45: "x", 46: "c", 47: "v", 48: "b", 49: "n", 50: "m", 52: ".",
              53: "/"}
# The same keys with shift held, where the character differs from upper case.
WEDGE_SHIFTED = {2: "!", 6: "%", 7: "^", 8: "&", 9: "*", 12: "_", 13: "+", 39: ":", 53: "?"}
KEY_ENTER = 28
KEY_KPENTER = 96
SHIFT_KEYS = (42, 54)


class WedgeScanner(_Watching, Scanner):
    def __init__(self, path, record_size=None, grab=True):
        Scanner.__init__(self)
        self.events = EventFile(path, record_size or default_record_size(), grab)
        self.failure = None
        self._task = None
        self._typed = []
        self._shift = False
        self._noise = False

    @classmethod
    def from_address(cls, path, record=None, grab="1"):
        if not path:
            raise TypeError("wedge: needs the scanner's input device, like wedge:/dev/input/event3")
        return cls(path, parse_record_size(record), grab != "0")

    def start(self):
        self._start_reading()

    def handle(self, event_type, code, value):
        if event_type != EV_KEY:
            return
        if code in SHIFT_KEYS:
            self._shift = value != 0
            return
        if value != PRESS:
            return
        if code in (KEY_ENTER, KEY_KPENTER):
            text, noise = "".join(self._typed), self._noise
            self._typed, self._noise = [], False
            if text and not noise:
                self.scanned(text)
            return
        char = WEDGE_KEYS.get(code)
        if char is None or len(self._typed) >= MAX_CODE_LENGTH:
            self._noise = True        # a key no code is made of: drop this code
            return
        if self._shift:
            char = WEDGE_SHIFTED.get(code, char.upper())
        self._typed.append(char)

    def resync(self):
        # Keys of the code being typed may be among those the kernel
        # dropped: a code missing a digit is another code, so the one in
        # progress is dropped up to its Enter, as noise is.
        self._noise = True
        down = self._state_now()
        self._shift = down is not None and any_down(down, SHIFT_KEYS)

    def input_state(self):
        """`shift` as the kernel has it (EVIOCGKEY); which other keys are
        down stays off the wire: they are a customer's payment code."""
        state, shift = self._query_state(lambda events, down: any_down(down, SHIFT_KEYS))
        state["shift"] = shift
        return state

    def close(self):
        self._stop_reading()
