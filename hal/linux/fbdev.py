"""Linux framebuffer display (fbdev).

    open_device("display", "fb:/dev/fb0")
    options: sysfs (/sys/class/graphics/fb0: where the geometry is read),
    width, height (the part of the screen we draw, from its top left
    corner; default: the whole visible screen), tty (/dev/tty0: the console
    to switch to graphics mode; "" leaves it alone), write (auto: into a
    shared mapping where the interpreter can map, else seek + write; mmap;
    seek)

Why a mapping: the DRM drivers' fbdev emulation (virtio-gpu's
virtio_gpudrmfb on Debian's 6.1 kernel, measured on the virtual handset)
keeps a shadow buffer and sends it to the screen only for pages touched
through mmap (deferred I/O); bytes that write() puts there reach
/dev/fb0 but never the glass. A plain fbdev driver shows both. CPython maps
with the mmap module, Debian's MicroPython with libc mmap through `ffi`;
PyPI's MicroPython can only seek + write.

Geometry comes from sysfs: virtual_size ("W,H"), bits_per_pixel, stride
(bytes per row, which may be wider than W * bytes per pixel: honoured).
16 bpp is RGB565, written as it is; 32 bpp is XRGB8888 (bytes B, G, R, X),
converted from our RGB565 framebuffer. Any other depth is refused with a
clear error. Only the rows that changed since the last show() are written.

The console: the kernel's text console draws a blinking cursor (and any
printk) on fb0. The driver switches the console tty to graphics mode
(KDSETMODE KD_GRAPHICS) where ioctl is available (CPython, MicroPython with
`ffi`), which stops the console drawing altogether; where it is not (PyPI's
MicroPython) it hides the cursor with the escape sequence ESC [ ? 25 l
only. The handset's boot unbinds fbcon as well
(echo 0 > /sys/class/vtconsole/vtcon1/bind), which needs neither: that is
the documented way (docs/DRIVERS.md), the mode switch a second line.
"""

import struct

from hal.compat import ioctl, map_device, open_device_file
from hal.display import Display
from hal.errors import DeviceError

KDSETMODE = 0x4B3A
KD_TEXT = 0
KD_GRAPHICS = 1
HIDE_CURSOR = b"\x1b[?25l"
SHOW_CURSOR = b"\x1b[?25h"
FORMATS = {16: "RGB565", 32: "XRGB8888"}
# Most rows of a screen are alike (background, the title bar's, the rule):
# converted once. Bounded, for MicroPython's small heap (a row is 960 bytes).
CONVERTED_ROWS_KEPT = 16


def _read_sysfs(folder, name):
    try:
        with open(folder + "/" + name) as f:
            return f.read().strip()
    except OSError as e:
        raise DeviceError("framebuffer geometry: cannot read %s/%s: %s" % (folder, name, e))


def read_geometry(sysfs):
    """-> (width, height, bits_per_pixel, stride) from a sysfs folder."""
    try:
        width, height = [int(v) for v in _read_sysfs(sysfs, "virtual_size").split(",")]
        bpp = int(_read_sysfs(sysfs, "bits_per_pixel"))
        stride = int(_read_sysfs(sysfs, "stride"))
    except ValueError as e:
        raise DeviceError("framebuffer geometry in %s does not parse: %s" % (sysfs, e))
    return width, height, bpp, stride


def xrgb_tables():
    """Two 256-entry tables so that an RGB565 pixel (low byte lo, high byte
    hi) becomes XRGB8888 as LOW[lo] | HIGH[hi]: each 5- or 6-bit channel is
    widened to 8 bits by repeating its top bits (0x1F -> 0xFF, 0 -> 0), and
    the bits from the two bytes never overlap, so OR joins them."""
    low = []
    high = []
    for byte in range(256):
        b5 = byte & 0x1F
        g_low = byte >> 5                 # green bits 0-2
        low.append(((b5 << 3) | (b5 >> 2)) | (g_low << 10))
        r5 = byte >> 3
        g_high = byte & 0x07              # green bits 3-5
        high.append(((r5 << 3) | (r5 >> 2)) << 16 | ((g_high << 5) | (g_high >> 1)) << 8)
    return low, high


def rgb565_row_to_xrgb(row, low, high, pack):
    """One row of RGB565 bytes -> XRGB8888 bytes (pack: a struct format for
    len(row) // 2 little-endian 32-bit words)."""
    return struct.pack(pack, *[low[row[i]] | high[row[i + 1]] for i in range(0, len(row), 2)])


class FbDisplay(Display):
    def __init__(self, path, sysfs=None, width=None, height=None, tty="/dev/tty0", write="auto"):
        if sysfs is None:
            sysfs = "/sys/class/graphics/" + path.rstrip("/").split("/")[-1]
        fb_width, fb_height, bpp, stride = read_geometry(sysfs)
        if bpp not in FORMATS:
            raise DeviceError("framebuffer %s has %d bits per pixel: only 16 (RGB565) and 32 (XRGB8888) "
                              "are supported" % (path, bpp))
        width = fb_width if width is None else width
        height = fb_height if height is None else height
        if width > fb_width or height > fb_height:
            raise DeviceError("framebuffer %s is %dx%d, smaller than the %dx%d asked for"
                              % (path, fb_width, fb_height, width, height))
        if stride < fb_width * bpp // 8:
            raise DeviceError("framebuffer %s: stride %d is narrower than a row (%d x %d bytes)"
                              % (path, stride, fb_width, bpp // 8))
        Display.__init__(self, width, height)
        self.path = path
        self.bits_per_pixel = bpp
        self.fb_format = FORMATS[bpp]
        self.stride = stride
        self.rows_written = 0        # for tests and the bench: rows pushed since open
        # Each row as last pushed (None: never). A show compares them with
        # memoryview slices and copies only the rows that changed: copying
        # the whole framebuffer (150 KB) at every show would cost MicroPython
        # a garbage collection of its small heap every few key presses.
        self._rows = [None] * height
        self._converted = {}         # RGB565 row -> XRGB8888 row, the few last ones
        self._tables = xrgb_tables() if bpp == 32 else None
        self._pack = "<%dI" % width
        try:
            self._fb = open_device_file(path)
        except OSError as e:
            raise DeviceError("framebuffer %s cannot open: %s" % (path, e))
        self._mapped = None
        if write != "seek":
            self._mapped = map_device(self._fb, stride * fb_height)
            if self._mapped is None and write == "mmap":
                self.close()
                raise DeviceError("framebuffer %s cannot be mapped on this interpreter (write=seek can)" % path)
        self.write_method = "mmap" if self._mapped is not None else "seek"
        self.console = self._console_off(tty)

    @classmethod
    def from_address(cls, path, sysfs=None, width=None, height=None, tty="/dev/tty0", write="auto"):
        if not path:
            raise TypeError("fb: needs the framebuffer device, like fb:/dev/fb0")
        if write not in ("auto", "mmap", "seek"):
            raise TypeError("write must be auto, mmap or seek, not %r" % write)
        return cls(path, sysfs, None if width is None else int(width), None if height is None else int(height),
                   tty or None, write)

    # -- the console -------------------------------------------------------------

    def _console_off(self, tty):
        """-> what was done: 'graphics', 'cursor hidden', 'left alone', or why not."""
        if not tty:
            return "left alone"
        try:
            console = open_device_file(tty)
        except OSError as e:
            return "console %s not opened: %s" % (tty, e)
        try:
            try:
                if ioctl(console, KDSETMODE, KD_GRAPHICS):
                    return "graphics"
            except OSError:
                pass  # not a virtual console (a serial tty, a file in tests)
            console.write(HIDE_CURSOR)
            return "cursor hidden"
        finally:
            console.close()

    # -- pushing pixels -------------------------------------------------------------

    def _flush(self, top, bottom):
        width_bytes = self.width * 2
        view = memoryview(self.framebuffer)
        rows = self._rows
        for y in range(top, bottom):
            start = y * width_bytes
            # bytes == memoryview compares the contents, without a copy.
            if rows[y] is not None and rows[y] == view[start:start + width_bytes]:
                continue
            row = bytes(view[start:start + width_bytes])
            out = row
            if self._tables is not None:
                out = self._converted.get(row)
                if out is None:
                    out = rgb565_row_to_xrgb(row, self._tables[0], self._tables[1], self._pack)
                    if len(self._converted) >= CONVERTED_ROWS_KEPT:
                        self._converted = {}
                    self._converted[row] = out
            try:
                if self._mapped is not None:
                    at = y * self.stride
                    self._mapped[at:at + len(out)] = out
                else:
                    self._fb.seek(y * self.stride)
                    self._fb.write(out)
            except OSError as e:
                rows[y] = None
                raise DeviceError("framebuffer %s: %s" % (self.path, e))
            rows[y] = row
            self.rows_written += 1

    def close(self):
        mapped, self._mapped = self._mapped, None
        if mapped is not None and hasattr(mapped, "close"):
            mapped.close()   # CPython's mmap; MicroPython's view ends with the process
        if self._fb is not None:
            self._fb.close()
            self._fb = None
