"""Simulated clock: the host machine's local time, or a fixed/offset time
that tests set (expiry checks, settlement dates)."""

import time

from hal.clock import Clock


class SimClock(Clock):
    def __init__(self, fixed=None):
        Clock.__init__(self)
        self._fixed = tuple(fixed) if fixed else None
        self._offset_s = 0

    @classmethod
    def from_address(cls, path, fixed=None):
        # sim:?fixed=20261122103000
        if fixed is not None:
            if len(fixed) != 14 or not fixed.isdigit():
                raise TypeError("fixed must be YYYYMMDDhhmmss, not %r" % fixed)
            fixed = (int(fixed[0:4]), int(fixed[4:6]), int(fixed[6:8]),
                     int(fixed[8:10]), int(fixed[10:12]), int(fixed[12:14]))
        return cls(fixed)

    def now(self):
        if self._fixed is not None:
            return self._fixed
        return tuple(time.localtime(int(time.time()) + self._offset_s)[:6])

    def set(self, t):
        self._fixed = tuple(t[:6])

    def advance(self, seconds):
        """Move a running clock on by `seconds` (tests that wait out a
        lockout); a fixed clock is moved with set()."""
        if self._fixed is not None:
            raise ValueError("a fixed clock is moved with set()")
        self._offset_s += seconds
