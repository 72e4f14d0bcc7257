"""Simulated printer: a byte sink with a paper roll that tests can empty.

`jobs` holds the last finished print_jobs' bytes (KEPT_JOBS of them);
`printed` is the tail of what reached the paper (the last KEPT_BYTES). Both
are bounded as a real roll is torn off: a simulated handset that printed a
day's slips into RAM ran out of its 1 MiB heap under MicroPython.
`paper_runs_out_after(n)` makes the paper end after n more bytes,
mid-receipt, like a real roll; `load_paper()` puts it back.
`open_cover()`: a 58 mm printer with its cover open sees no paper under its
head, so it stops as it does without paper; `close_cover()` resumes.
"""

KEPT_JOBS = 16
KEPT_BYTES = 16384

from hal.printer import Printer


class SimPrinter(Printer):
    def __init__(self):
        Printer.__init__(self)
        self.printed = bytearray()
        self.jobs = []
        self._current = None
        self._paper = True
        self._bytes_left = None  # None: endless roll
        self.cover_open = False

    @classmethod
    def from_address(cls, path):
        return cls()

    async def print_job(self, data):
        self._current = bytearray()
        try:
            await Printer.print_job(self, data)
        finally:
            self.jobs.append(bytes(self._current))
            if len(self.jobs) > KEPT_JOBS:
                self.jobs.pop(0)
            self._current = None

    def paper_runs_out_after(self, n_bytes):
        self._bytes_left = n_bytes

    def remove_paper(self):
        self._paper = False

    def load_paper(self):
        self._paper = True
        self._bytes_left = None
        self._paper_changed(True)

    def open_cover(self):
        self.cover_open = True

    def close_cover(self):
        self.cover_open = False
        if self._paper:
            self._paper_changed(True)

    def _paper_present(self):
        return self._paper and not self.cover_open

    async def _write(self, data):
        if self._bytes_left is not None:
            if len(data) > self._bytes_left:
                # The line that does not fit is not printed at all: the base
                # class resends it once paper is back.
                self._paper = False
                self._bytes_left = 0
                return False
            self._bytes_left -= len(data)
        self.printed.extend(data)
        if len(self.printed) > KEPT_BYTES:
            self.printed = self.printed[-KEPT_BYTES:]
        if self._current is not None:
            self._current.extend(data)
        return True
