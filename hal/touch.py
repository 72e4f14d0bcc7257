"""Touch: a finger or stylus on the screen, in screen coordinates.

Posts ("touch", (phase, x, y)) with phase DOWN, MOVE or UP as the point
goes, and keeps the finished strokes (lists of (x, y)) for whoever reads a
drawing, such as the e-signature. A backend calls _down/_move/_up with
screen coordinates; calibration from raw axes is the backend's business.
"""

from hal.device import Device

DOWN = "down"
MOVE = "move"
UP = "up"
MAX_STROKES = 64       # a signature has a handful; a stuck finger must not fill the memory
MAX_POINTS = 2048


class Touch(Device):
    event_kind = "touch"

    def __init__(self, width=240, height=320):
        Device.__init__(self)
        self.width = width
        self.height = height
        self.strokes = []
        self._stroke = None
        self.reports = 0   # events posted since open: a bench (the HIL bridge) knows when all it sent arrived

    def take_strokes(self):
        """The finished strokes since the last call, oldest first."""
        strokes, self.strokes = self.strokes, []
        return strokes

    def clear(self):
        self.strokes = []
        self._stroke = None

    def _clip(self, x, y):
        return min(max(int(x), 0), self.width - 1), min(max(int(y), 0), self.height - 1)

    def _down(self, x, y):
        x, y = self._clip(x, y)
        self._stroke = [(x, y)]
        self._emit(DOWN, x, y)

    def _move(self, x, y):
        if self._stroke is None:
            self._down(x, y)
            return
        x, y = self._clip(x, y)
        if self._stroke[-1] == (x, y):
            return
        if len(self._stroke) < MAX_POINTS:
            self._stroke.append((x, y))
        self._emit(MOVE, x, y)

    def _up(self):
        if self._stroke is None:
            return
        x, y = self._stroke[-1]
        self.strokes.append(self._stroke)
        if len(self.strokes) > MAX_STROKES:
            self.strokes.pop(0)
        self._stroke = None
        self._emit(UP, x, y)

    def _emit(self, phase, x, y):
        self.reports += 1
        self._post((phase, x, y))
