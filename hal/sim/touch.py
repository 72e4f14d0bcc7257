"""Simulated touch screen: the emulator and the tests draw with it."""

from hal.touch import Touch


class SimTouch(Touch):
    @classmethod
    def from_address(cls, path, width="240", height="320"):
        if path:
            raise TypeError("sim touch takes no path, got %r" % path)
        return cls(int(width), int(height))

    def press_at(self, x, y):
        self._down(x, y)

    def move_to(self, x, y):
        self._move(x, y)

    def lift(self):
        self._up()
