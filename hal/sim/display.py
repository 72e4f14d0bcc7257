"""Simulated display: the framebuffer is all there is. The emulator turns it
into a PNG or a window; tests read `title`/`lines` or hash the bytes."""

from hal.display import RGB565, Display


class SimDisplay(Display):
    @classmethod
    def from_address(cls, path, width="240", height="320", pixel_format=RGB565):
        return cls(int(width), int(height), pixel_format)

    def _flush(self, top, bottom):
        # Nothing to push: watchers read self.framebuffer after `frames` changes.
        pass
