"""Linux input events (evdev): the keypad and the touch screen.

    open_device("keypad", "evdev:/dev/input/event0?keymap=pc")
    open_device("touch", "evdev:/dev/input/event1?calibration=0,32767,0,32767&width=240&height=320")
    options (both): record (16 or 24: the size of struct input_event; by
    default the interpreter's word size decides), grab (1: EVIOCGRAB, so
    the events do not also reach the console; 0 leaves it)

struct input_event is a struct timeval (two C longs) then type (u16),
code (u16), value (s32): 16 bytes on a 32-bit system, 24 on a 64-bit one.
(A 32-bit system built with a 64-bit time_t also has 24: set record=24.)

When the reader falls behind, the kernel's buffer for it overflows: it
drops what was queued and sends SYN_DROPPED. Then, as the kernel's
Documentation/input/event-codes.rst says, everything up to and including
the next SYN_REPORT is discarded and the device's state is read again
(EVIOCGKEY, EVIOCGABS) where ioctl can be called, what is still queued
dropped first (libevdev's way: it is older than the state); each driver's
resync() says what it does when ioctl cannot be called.
"""

import struct

from hal import keypad as keypad_module
from hal.compat import TimeoutError, ioctl, ioctl_read, open_device_file, read_when_ready, word_bytes
from hal.errors import DeviceError
from hal.keypad import Keypad
from hal.linux.serial import int_option, stop_task
from hal.touch import Touch

EV_SYN = 0x00
EV_KEY = 0x01
EV_ABS = 0x03
SYN_REPORT = 0
SYN_DROPPED = 3
ABS_X = 0x00
ABS_Y = 0x01
ABS_MT_POSITION_X = 0x35
ABS_MT_POSITION_Y = 0x36
BTN_LEFT = 0x110
BTN_TOUCH = 0x14A
TOUCH_BUTTONS = (BTN_TOUCH, BTN_LEFT)   # a panel's finger, a tablet's or mouse's button
RELEASE = 0
PRESS = 1
AUTOREPEAT = 2
# ioctl numbers as linux/input.h builds them with the generic layout of
# x86_64, arm and aarch64: _IOC(dir, 'E', nr, size) = dir << 30 | size << 16
# | 0x45 << 8 | nr, _IOC_READ = 2, _IOC_WRITE = 1.
EVIOCGRAB = 0x40044590   # _IOW('E', 0x90, int)
KEY_STATE_BYTES = 96     # KEY_MAX (0x2ff) + 1 bits
EVIOCGKEY = 0x80604518   # _IOC(_IOC_READ, 'E', 0x18, 96): the keys down now, one bit a code
ABSINFO_BYTES = 24       # struct input_absinfo: value, minimum, maximum, fuzz, flat, resolution (s32)
EVIOCGABS = 0x80184540   # _IOR('E', 0x40 + axis, struct input_absinfo): add the axis code
# After an overflow, at most this many queued records are read and dropped
# before the state is asked: the biggest buffer the kernel gives a reader
# (EVDEV_BUF_PACKETS x a packet) is far smaller; a device that never stops
# talking must not hold the loop.
DISCARD_LIMIT = 4096

RECORD_FORMATS = {16: "<iiHHi", 24: "<qqHHi"}

# Linux key codes (linux/input-event-codes.h) of a PC keyboard -> our keys:
# the virtual handset's virtio keyboard, a USB keypad, a desk test.
PC_KEYMAP = {
    2: "1", 3: "2", 4: "3", 5: "4", 6: "5", 7: "6", 8: "7", 9: "8", 10: "9", 11: "0",
    79: "1", 80: "2", 81: "3", 75: "4", 76: "5", 77: "6", 71: "7", 72: "8", 73: "9", 82: "0",
    52: ".", 83: ".",                     # KEY_DOT, KEY_KPDOT
    28: "ENTER", 96: "ENTER",             # KEY_ENTER, KEY_KPENTER
    1: "CANCEL",                          # KEY_ESC
    14: "CLEAR", 111: "CLEAR",            # KEY_BACKSPACE, KEY_DELETE
    59: "F1", 60: "F2",                   # KEY_F1, KEY_F2
    139: "MENU", 61: "MENU",              # KEY_MENU, KEY_F3
    103: "UP", 108: "DOWN",               # KEY_UP, KEY_DOWN
    55: "00", 62: "00",                   # KEY_KPASTERISK, KEY_F4 (a PC has no 00 key)
}
KEYMAPS = {"pc": PC_KEYMAP}
# Held down, these repeat; a digit never does (a held 1 must not type 1111 into an amount).
REPEATING_KEYS = ("CLEAR", "UP", "DOWN")


def default_record_size():
    return 24 if word_bytes() == 8 else 16


def parse_record_size(value):
    if value is None:
        return default_record_size()
    size = int_option("record", value, 16, 24)
    if size not in RECORD_FORMATS:
        raise TypeError("record must be 16 or 24, not %d" % size)
    return size


def encode_event(event_type, code, value, size=None, seconds=0, micros=0):
    """One struct input_event (for tests and simulators)."""
    return struct.pack(RECORD_FORMATS[size or default_record_size()], seconds, micros, event_type, code, value)


def decode_events(buffer, size):
    """bytes -> ([(type, code, value)], the rest that is not a whole record)."""
    fmt = RECORD_FORMATS[size]
    whole = len(buffer) - len(buffer) % size
    events = []
    for at in range(0, whole, size):
        _sec, _usec, event_type, code, value = struct.unpack_from(fmt, buffer, at)
        events.append((event_type, code, value))
    return events, buffer[whole:]


def load_keymap(spec):
    """'pc' (built in) or the path of a JSON file {"2": "1", "28": "ENTER", ...}
    -> {scan code: key}. Every key must be one of ours."""
    if spec in KEYMAPS:
        return dict(KEYMAPS[spec])
    import json
    try:
        with open(spec) as f:
            raw = json.load(f)
    except (OSError, ValueError) as e:
        raise DeviceError("keymap %r: not a built-in map (%s) nor a readable JSON file: %s"
                          % (spec, ", ".join(sorted(KEYMAPS)), e))
    keymap = {}
    for code, key in raw.items():
        if key not in keypad_module.KEYS:
            raise DeviceError("keymap %s: %r is not a key (known: %s)" % (spec, key, " ".join(keypad_module.KEYS)))
        try:
            keymap[int(code)] = key
        except ValueError:
            raise DeviceError("keymap %s: scan code %r is not a number" % (spec, code))
    return keymap


class EventFile:
    """An evdev node (or a FIFO / file of records standing in): reads whole
    records, grabs the device where ioctl is available."""

    def __init__(self, path, record_size, grab):
        self.path = path
        self.record_size = record_size
        self.grabbed = None   # True, False (refused: not an evdev node), None (no ioctl here)
        self._buffer = b""
        try:
            self._file = open_device_file(path, writable=False)
        except OSError as e:
            raise DeviceError("input device %s cannot open: %s" % (path, e))
        if grab:
            try:
                self.grabbed = True if ioctl(self._file, EVIOCGRAB, 1) else None
            except OSError:
                self.grabbed = False

    async def read_events(self, timeout_ms=None):
        """The next events (at least one); DeviceError when the device is
        gone (EOF, EIO), TimeoutError with a timeout."""
        while True:
            if self._file is None:
                raise DeviceError("input device %s is closed" % self.path)
            try:
                # One record a read: MicroPython's read(n) goes on reading
                # until it has n bytes, and a second read() of an evdev node
                # with no event pending blocks the whole loop. The kernel
                # hands out whole records, so asking for one is answered by
                # one read(); the next waits for the poll again.
                chunk = await read_when_ready(self._file, self.record_size, timeout_ms)
            except TimeoutError:
                raise
            except OSError as e:
                raise DeviceError("input device %s: %s" % (self.path, e))
            if not chunk:
                raise DeviceError("input device %s went away (end of file)" % self.path)
            events, self._buffer = decode_events(self._buffer + chunk, self.record_size)
            if events:
                return events

    def discard_pending(self, limit=DISCARD_LIMIT):
        """Read and drop every record the kernel holds queued for us now
        (at most `limit`); -> how many. Never waits: a record is read only
        when poll says one is there (a read of an evdev node with nothing
        queued would block the whole loop)."""
        import select
        poller = select.poll()
        poller.register(self._file, select.POLLIN)
        self._buffer = b""   # an evdev node hands out whole records: nothing is cut in two
        dropped = 0
        while dropped < limit and poller.poll(0):
            try:
                if not self._file.read(self.record_size):
                    break          # end of file: the reading task finds out next
            except OSError:
                break              # gone (ENODEV): likewise
            dropped += 1
        return dropped

    def keys_down(self):
        """The key (and button) codes the kernel holds down now (EVIOCGKEY),
        or None where it cannot be asked: no ioctl in this interpreter, or
        not an evdev node (a FIFO standing in for one). Not read-only: the
        kernel drops the key events still queued for this file, as the
        state already holds them (evdev_handle_get_val)."""
        state = self._query(EVIOCGKEY, KEY_STATE_BYTES)
        if state is None:
            return None
        # Bit n of the kernel's array of longs is byte n // 8 on a
        # little-endian machine (x86_64, arm, aarch64), as in our records.
        down = set()
        for at in range(len(state)):
            if state[at]:
                for bit in range(8):
                    if state[at] >> bit & 1:
                        down.add(at * 8 + bit)
        return down

    def axis(self, code):
        """The kernel's value of an absolute axis now (EVIOCGABS), or None
        where it cannot be asked."""
        info = self._query(EVIOCGABS + code, ABSINFO_BYTES)
        return None if info is None else struct.unpack_from("<i", info, 0)[0]

    def _query(self, request, size):
        if self._file is None:
            return None
        try:
            return ioctl_read(self._file, request, size)
        except OSError:
            return None

    def close(self):
        if self._file is not None:
            try:
                self._file.close()
            except OSError:
                pass
            self._file = None


def any_down(down, codes):
    """Is any of `codes` among the codes `down` (EventFile.keys_down())?"""
    for code in codes:
        if code in down:
            return True
    return False


class _Watching:
    """The reading task the evdev drivers share: read, hand each event to
    handle(), stop with `failure` set when the device goes away. After the
    kernel dropped events (SYN_DROPPED) the rest of that report is
    discarded, then the driver's resync() takes the device's state anew."""

    overflows = 0   # SYN_DROPPED read since the device was opened (input_state)

    def _start_reading(self):
        from hal.compat import asyncio
        if self._task is None:
            self._task = asyncio.create_task(self._read_forever())

    async def _read_forever(self):
        discarding = False
        while True:
            try:
                events = await self.events.read_events()
            except DeviceError as e:
                self.failure = str(e)
                return
            for event_type, code, value in events:
                if event_type == EV_SYN and code == SYN_DROPPED:
                    # The events after it, up to the next SYN_REPORT, are
                    # a report torn in two: none of them can be trusted.
                    discarding = True
                    self.overflows += 1
                elif not discarding:
                    self.handle(event_type, code, value)
                elif event_type == EV_SYN and code == SYN_REPORT:
                    discarding = False
                    self.resync()

    def resync(self):
        """After SYN_DROPPED and the report it tore: bring the driver's
        state (keys held, a finger down) back in line with the device's."""
        raise NotImplementedError

    def _state_now(self):
        """After an overflow: the codes down now (EVIOCGKEY), what the
        kernel still held queued for us dropped first; None where ioctl
        cannot ask, and then the queue is all there is to go on: kept."""
        if self.events.keys_down() is None:
            return None
        # What is still queued happened before the state asked next, which
        # holds it already. Played after it, the touch panel would draw
        # from where the finger is now back to where it was, and (the
        # kernel drops queued key events when EVIOCGKEY is asked, so a
        # lift and a touch among them vanish) join two strokes in a line.
        self.events.discard_pending()
        return self.events.keys_down()

    def input_state(self):
        """For a bench (the test protocol's input_state): what a resync
        would read from the kernel now, beside the driver's own books.
        Changes nothing: the kernel is asked through a file of its own,
        as EVIOCGKEY on ours would drop the key events queued for it."""
        raise NotImplementedError

    def _query_state(self, read):
        """read(events) on a second, ungrabbed file of the same node, and
        what every driver's input_state says: the node, whether the kernel
        answered EVIOCGKEY, how many overflows were read. -> (state, what
        read returned; None if the node cannot be opened or asked)."""
        state = {"node": self.events.path, "ioctl": False, "overflows": self.overflows}
        try:
            events = EventFile(self.events.path, self.events.record_size, grab=False)
        except DeviceError:
            return state, None
        try:
            down = events.keys_down()
            if down is None:
                return state, None
            state["ioctl"] = True
            return state, read(events, down)
        finally:
            events.close()

    def _stop_reading(self):
        stop_task(self._task)
        self._task = None
        self.events.close()


class EvdevKeypad(_Watching, Keypad):
    def __init__(self, path, keymap, record_size=None, grab=True, repeating=REPEATING_KEYS):
        Keypad.__init__(self)
        self.keymap = keymap
        self.repeating = repeating
        self.events = EventFile(path, record_size or default_record_size(), grab)
        self.held = set()
        self.failure = None
        self._task = None

    @classmethod
    def from_address(cls, path, keymap="pc", record=None, grab="1"):
        if not path:
            raise TypeError("evdev: needs the input device, like evdev:/dev/input/event0")
        return cls(path, load_keymap(keymap), parse_record_size(record), grab != "0")

    def start(self):
        self._start_reading()

    def handle(self, event_type, code, value):
        if event_type != EV_KEY:
            return
        key = self.keymap.get(code)
        if key is None:
            return  # a key we do not use (or a button of a touch panel on the same node)
        if value == PRESS:
            self.held.add(key)
            self.press(key)
        elif value == AUTOREPEAT:
            # Only a key seen going down repeats: one taken as released
            # after an overflow (resync) waits for its next press.
            if key in self.repeating and key in self.held:
                self.press(key)
        elif value == RELEASE:
            self.held.discard(key)

    def resync(self):
        down = self._state_now()
        if down is None:
            # No ioctl here (PyPI's MicroPython has no ffi) or not an evdev
            # node: every key is taken as released, so none stays held or
            # repeats. A press lost in the overflow is typed again; a key
            # left down in our books would never let go.
            self.held = set()
            return
        now = set()
        for code in sorted(down):
            key = self.keymap.get(code)
            if key is not None and key not in now:
                now.add(key)
                if key not in self.held:
                    # Pressed while its event was dropped, and still down.
                    self.press(key)
        self.held = now

    def input_state(self):
        # How many keys, never which: this keypad types PINs.
        state, count = self._query_state(
            lambda events, down: len(set(self.keymap[c] for c in down if c in self.keymap)))
        state["keys_down"] = count
        state["held"] = len(self.held)
        return state

    def close(self):
        self._stop_reading()


def parse_calibration(text):
    try:
        values = [int(v) for v in text.split(",")]
    except ValueError:
        values = []
    if len(values) != 4 or values[0] == values[1] or values[2] == values[3]:
        raise TypeError("calibration must be xmin,xmax,ymin,ymax (raw axis values), not %r" % text)
    return values


def _scale(offset, span, size):
    """offset / span * size, rounded to the nearest pixel (a mirrored axis
    has a negative span): QEMU's tablet at pixel 10 of 240 must land on 10."""
    numerator = offset * size
    if span < 0:
        numerator, span = -numerator, -span
    return (2 * numerator + span) // (2 * span)


class EvdevTouch(_Watching, Touch):
    """Raw absolute axes -> screen coordinates by a linear calibration:
    raw xmin..xmax -> 0..width-1 (xmin > xmax mirrors), swap_xy for a
    panel mounted turned. The defaults fit QEMU's virtio-tablet (0..32767)."""

    def __init__(self, path, calibration=(0, 32767, 0, 32767), width=240, height=320, swap_xy=False,
                 record_size=None, grab=True):
        Touch.__init__(self, width, height)
        self.calibration = tuple(calibration)
        self.swap_xy = swap_xy
        self.events = EventFile(path, record_size or default_record_size(), grab)
        self.failure = None
        self._task = None
        self._raw_x = None
        self._raw_y = None
        self._abs_xy = False     # the panel reports ABS_X/ABS_Y (EVIOCGABS can read them back)
        self._touching = False
        self._was_touching = False

    @classmethod
    def from_address(cls, path, calibration="0,32767,0,32767", width="240", height="320", swap_xy="0",
                     record=None, grab="1"):
        if not path:
            raise TypeError("evdev: needs the input device, like evdev:/dev/input/event1")
        return cls(path, parse_calibration(calibration), int_option("width", width, 1, 8192),
                   int_option("height", height, 1, 8192), swap_xy == "1", parse_record_size(record),
                   grab != "0")

    def start(self):
        self._start_reading()

    def to_screen(self, raw_x, raw_y):
        if self.swap_xy:
            raw_x, raw_y = raw_y, raw_x
        xmin, xmax, ymin, ymax = self.calibration
        return _scale(raw_x - xmin, xmax - xmin, self.width - 1), _scale(raw_y - ymin, ymax - ymin, self.height - 1)

    def handle(self, event_type, code, value):
        if event_type == EV_ABS:
            if code in (ABS_X, ABS_MT_POSITION_X):
                self._raw_x = value
            elif code in (ABS_Y, ABS_MT_POSITION_Y):
                self._raw_y = value
            if code in (ABS_X, ABS_Y):
                self._abs_xy = True
        elif event_type == EV_KEY and code in TOUCH_BUTTONS:
            self._touching = value != RELEASE
        elif event_type == EV_SYN and code == SYN_REPORT:
            self._report()

    def _report(self):
        # One report is one moment: the axes and the touch state together.
        if self._touching and self._raw_x is not None and self._raw_y is not None:
            x, y = self.to_screen(self._raw_x, self._raw_y)
            if self._was_touching:
                self._move(x, y)
            else:
                self._down(x, y)
        elif self._was_touching and not self._touching:
            self._up()
        self._was_touching = self._touching

    def resync(self):
        # The stroke in progress ends here, whatever the panel says now: in
        # what was dropped the finger may have lifted and come down
        # elsewhere, and going on would draw a straight line joining two
        # strokes of a signature. A gap where points were lost is honest.
        if self._was_touching:
            self._up()
        self._was_touching = False
        self._touching = False
        down = self._state_now()
        if down is None:
            # No ioctl here (PyPI's MicroPython has no ffi) or not an evdev
            # node: the finger is taken as lifted. The kernel does not
            # repeat BTN_TOUCH while it stays down, so the rest of this
            # stroke is lost; the next touch starts a new one.
            return
        if not any_down(down, TOUCH_BUTTONS):
            return
        raw_x = raw_y = None
        if self._abs_xy:
            # ABS_X/ABS_Y only: the kernel keeps a multi-touch axis per
            # slot, and EVIOCGABS of one answers stale values.
            raw_x, raw_y = self.events.axis(ABS_X), self.events.axis(ABS_Y)
        if raw_x is None or raw_y is None:
            return   # down, but where is not known: lifted, as above
        self._raw_x, self._raw_y = raw_x, raw_y
        self._touching = True
        self._report()   # a new stroke from where the finger is now

    def input_state(self):
        """`down` (BTN_TOUCH or BTN_LEFT, EVIOCGKEY) and `x`, `y` (ABS_X,
        ABS_Y by EVIOCGABS, in screen pixels) as the kernel has them;
        `touching`: a stroke in progress in the driver's books."""
        def read(events, down):
            raw_x, raw_y = events.axis(ABS_X), events.axis(ABS_Y)
            where = (None, None) if raw_x is None or raw_y is None else self.to_screen(raw_x, raw_y)
            return any_down(down, TOUCH_BUTTONS), where
        state, answer = self._query_state(read)
        down, (x, y) = answer or (None, (None, None))
        state.update({"down": down, "x": x, "y": y})
        state["touching"] = self._was_touching
        return state

    def close(self):
        self._stop_reading()
