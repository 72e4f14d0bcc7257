"""Clock: wall-clock date and time for receipts and ISO 8583 fields 12/13."""

from hal.device import Device


class Clock(Device):
    def now(self):
        """(year, month, day, hour, minute, second) in local time."""
        raise NotImplementedError

    def set(self, t):
        """Set the clock, e.g. from the host's fields 12/13."""
        raise NotImplementedError
