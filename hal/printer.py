"""Printer: moves ESC/POS bytes to paper; knows when paper runs out.

The encoder (firmware/escpos.py) makes the bytes; a backend only writes them
(`_write`) and reports paper (`_paper_present`, `_paper_changed`). The wait
for paper lives here, once, not in each backend.
"""

from hal.compat import asyncio
from hal.device import Device

PAPER_OUT = "paper_out"
PAPER_OK = "paper_ok"


class Printer(Device):
    event_kind = "printer"

    def __init__(self):
        Device.__init__(self)
        self._paper_back = asyncio.Event()

    async def print_job(self, data):
        """Print `data`, a line at a time. When paper runs out, post
        PAPER_OUT, wait until paper is back (for as long as it takes: the
        merchant decides, the transaction is already done), post PAPER_OK and
        go on from the line that was not printed. Nothing is printed twice."""
        start = 0
        while start < len(data):
            end = data.find(b"\n", start)
            end = len(data) if end < 0 else end + 1
            while not self._paper_present():
                self._paper_back.clear()
                self._post(PAPER_OUT)
                await self._paper_back.wait()
                if self._paper_present():
                    self._post(PAPER_OK)
            if await self._write(data[start:end]):
                start = end
            # else: paper ended during this line; it was not printed, the
            # loop above waits for paper and sends it again.

    def has_paper(self):
        return self._paper_present()

    def _paper_changed(self, present):
        """Backends call this when they see paper come back."""
        if present:
            self._paper_back.set()

    async def _write(self, data):
        """Print one line; return False if paper ended before it printed."""
        raise NotImplementedError

    def _paper_present(self):
        raise NotImplementedError
