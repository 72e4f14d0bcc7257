"""The system clock.

    open_device("clock", "system:")
    options: set_system (0: keep the host's time as an offset in this
    process; 1: also set the system clock, which needs root and
    CAP_SYS_TIME)

now() is the local time of the system clock (TZ as the system has it,
Asia/Shanghai on the handset) plus the offset that set() keeps: the host's
date and time (ISO 8583 fields 12/13) set the terminal's clock as the flows
do now, whether or not the process may set the system clock itself. With
set_system=1 the system clock is set too (CPython: time.clock_settime;
MicroPython: libc clock_settime through `ffi`); where that fails the
offset still holds, and `system_set` says what happened.
"""

import time

from hal.clock import Clock
from hal.compat import set_system_time


class SystemClock(Clock):
    def __init__(self, set_system=False):
        Clock.__init__(self)
        self.set_system = set_system
        self.offset_s = 0
        self.system_set = None   # None: not tried; True / False: the last try

    @classmethod
    def from_address(cls, path, set_system="0"):
        if path:
            raise TypeError("system: clock takes no path, got %r" % path)
        if set_system not in ("0", "1"):
            raise TypeError("set_system must be 0 or 1, not %r" % set_system)
        return cls(set_system == "1")

    def now(self):
        return tuple(time.localtime(int(time.time()) + self.offset_s)[:6])

    def set(self, t):
        y, mo, d, h, mi, s = [int(v) for v in t[:6]]
        wanted = int(time.mktime((y, mo, d, h, mi, s, 0, 0, -1)))
        if self.set_system:
            self.system_set = set_system_time(wanted)
            if self.system_set:
                self.offset_s = 0
                return
        self.offset_s = wanted - int(time.time())
