"""A serial line (a UART, a USB serial adapter, or a pty in tests): raw
8N1 at a baud rate, reads that wait with a timeout, writes in full.

The one wait-with-timeout for every serial driver lives here
(read / read_until), so the printer, modem and reader do not each grow
their own.
"""

from hal.compat import TimeoutError, open_device_file, set_raw, read_when_ready, ticks_diff, ticks_ms
from hal.errors import DeviceError

# termios indexes MicroPython has no names for: c_cc[VTIME], c_cc[VMIN].
VTIME = 5
VMIN = 6


class DeviceGone(DeviceError):
    """The device went away: end of file or EIO on its node (cable pulled,
    USB adapter unplugged, the pty's other side closed)."""
    code = "DEVICE"


def parse_baud(value):
    try:
        baud = int(value)
    except (TypeError, ValueError):
        raise TypeError("baud must be a number, not %r" % (value,))
    return baud


def int_option(name, value, low, high):
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise TypeError("%s must be a number, not %r" % (name, value))
    if not low <= number <= high:
        raise TypeError("%s must be %d..%d, not %d" % (name, low, high, number))
    return number


def stop_task(task):
    """Cancel a driver's watching task. After a power cut (the emulator
    stops a loop dead) its loop is closed and the task cannot be
    cancelled; closing the device's file is then all there is to do."""
    if task is None:
        return
    try:
        task.cancel()
    except RuntimeError:
        pass


class SerialPort:
    """`path` is opened at once and set raw at `baud` (None: leave the line
    settings alone, for a FIFO or file standing in for the line)."""

    def __init__(self, path, baud=115200, name="serial line"):
        self.path = path
        self.name = name
        self._pending = b""
        try:
            self._file = open_device_file(path)
        except OSError as e:
            raise DeviceError("%s %s cannot open: %s" % (name, path, e))
        if baud is not None:
            self._set_raw(baud)

    def _set_raw(self, baud):
        import termios
        speed = getattr(termios, "B%d" % baud, None)
        if speed is None:
            self.close()
            raise DeviceError("%s %s: baud rate %d not supported by this interpreter's termios"
                              % (self.name, self.path, baud))
        fd = self._file.fileno()
        try:
            set_raw(fd)
            attrs = termios.tcgetattr(fd)
            attrs[4] = attrs[5] = speed
            # Reads return what has arrived instead of waiting for a count:
            # the wait is done by poll, with a timeout, in read().
            attrs[6][VMIN] = 0
            attrs[6][VTIME] = 0
            termios.tcsetattr(fd, termios.TCSANOW, attrs)
        except Exception as e:  # noqa: BLE001 - OSError, or CPython's termios.error
            # Not a tty (ENOTTY) or a setting the line refuses.
            self.close()
            raise DeviceError("%s %s is not a serial line: %s" % (self.name, self.path, e))

    # -- reading -----------------------------------------------------------

    async def read(self, max_bytes, timeout_ms):
        """What has arrived (at least one byte), waiting at most timeout_ms.
        Raises TimeoutError if nothing came, DeviceGone if the line went away."""
        if self._pending:
            data, self._pending = self._pending[:max_bytes], self._pending[max_bytes:]
            return data
        if self._file is None:
            raise DeviceGone("%s %s is closed" % (self.name, self.path))
        try:
            data = await read_when_ready(self._file, max_bytes, timeout_ms)
        except TimeoutError:
            raise
        except OSError as e:
            raise DeviceGone("%s %s: %s" % (self.name, self.path, e))
        if not data:
            raise DeviceGone("%s %s: the device went away (end of file)" % (self.name, self.path))
        return data

    async def read_exact(self, n, timeout_ms):
        """Exactly n bytes, all within timeout_ms (TimeoutError otherwise;
        what did arrive is kept for the next read)."""
        start = ticks_ms()
        data = b""
        try:
            while len(data) < n:
                left = timeout_ms - ticks_diff(ticks_ms(), start)
                if left <= 0:
                    raise TimeoutError()
                data += await self.read(n - len(data), left)
        except TimeoutError:
            self._pending = data + self._pending
            raise
        return data

    def unread(self, data):
        """Give bytes back: the next read returns them first."""
        self._pending = data + self._pending

    def discard_input(self):
        """Drop whatever has arrived and not been read (a stale status
        byte, half a line): the raw line returns b"" at once when empty.
        Returns the number of bytes dropped."""
        dropped = len(self._pending)
        self._pending = b""
        if self._file is None:
            return dropped
        while True:
            try:
                chunk = self._file.read(256)
            except OSError:
                return dropped
            if not chunk:
                return dropped
            dropped += len(chunk)

    # -- writing -----------------------------------------------------------

    def write(self, data):
        """Write all of `data`; DeviceGone if the line went away."""
        if self._file is None:
            raise DeviceGone("%s %s is closed" % (self.name, self.path))
        view = memoryview(data)
        try:
            while len(view):
                n = self._file.write(view)
                if n is None or n <= 0:
                    raise OSError("write returned %r" % (n,))
                view = view[n:]
        except OSError as e:
            raise DeviceGone("%s %s: %s" % (self.name, self.path, e))

    def close(self):
        if self._file is not None:
            try:
                self._file.close()
            except OSError:
                pass
            self._file = None
