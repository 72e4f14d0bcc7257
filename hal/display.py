"""Display: a framebuffer of a set size and pixel format.

The firmware draws pixels into `framebuffer` (see firmware/screen.py) and
calls show(). It also records the text it drew (`title`, `lines`) so that
tests and the test protocol can read the screen without OCR.
"""

from hal.compat import asyncio
from hal.device import Device

RGB565 = "RGB565"  # 2 bytes a pixel, little-endian, as Linux fbdev on the handset


class Display(Device):
    def __init__(self, width=240, height=320, pixel_format=RGB565):
        Device.__init__(self)
        if pixel_format != RGB565:
            raise ValueError("pixel format %r not supported (RGB565 only)" % pixel_format)
        self.width = width
        self.height = height
        self.pixel_format = pixel_format
        self.bytes_per_pixel = 2
        self.framebuffer = bytearray(width * height * 2)
        self.title = ""
        self.lines = []
        self.generation = 0  # bumped at every show(): screen N is the N-th shown
        self.frames = 0      # bumped at every push to the glass (show() or update()): a
                             # watcher that mirrors the pixels (the emulator's window) redraws
        self.changed = asyncio.Event()  # set at every show(); a watcher clears it
        # The last screens shown, (generation, title, lines): a test that
        # waits for a message must not miss one that was up for only a moment.
        self.recent = []

    def show(self, title, lines):
        """Push the framebuffer to the glass; title/lines are what was drawn."""
        self.title = title
        self.lines = list(lines)
        self.generation += 1
        self.recent.append((self.generation, title, self.lines))
        if len(self.recent) > 32:
            self.recent.pop(0)
        self._flush(0, self.height)
        self.frames += 1
        self.changed.set()

    def update(self, top, bottom):
        """Push rows top..bottom-1 to the glass: the same screen with a part
        of it drawn again (ink on the signing pad, a cleared pad). Not a new
        screen: `generation` and `recent` stay, so a test's wait_text still
        reads the screen as shown; only `frames` moves."""
        top = max(0, top)
        bottom = min(self.height, bottom)
        if top < bottom:
            self._flush(top, bottom)
            self.frames += 1

    def _flush(self, top, bottom):
        """Push rows top..bottom-1 of the framebuffer (a backend may push
        only those of them that changed)."""
        raise NotImplementedError
