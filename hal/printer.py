"""Printer: moves ESC/POS bytes to paper; knows when paper runs out.

The encoder (firmware/escpos.py) makes the bytes; a backend only writes them
(`_write`) and says whether the printer can print (`_ready`, or the simpler
`_paper_present`). The wait for paper lives here, once, not in each backend.
"""

from hal.compat import TimeoutError, asyncio, wait_for_ms
from hal.errors import PrinterError
from hal.device import Device

PAPER_OUT = "paper_out"
PAPER_OK = "paper_ok"


class Printer(Device):
    event_kind = "printer"
    # None: the backend calls _paper_changed(True) when paper is back (the
    # simulator knows). A number: ask the printer again that often while
    # waiting (a real printer says nothing until asked).
    paper_poll_ms = None

    def __init__(self):
        Device.__init__(self)
        self._paper_back = asyncio.Event()

    async def print_job(self, data):
        """Print `data`, a line at a time. When paper runs out (or the
        cover is open), post PAPER_OUT, wait until the printer can print
        again (for as long as it takes: the merchant decides, the
        transaction is already done), post PAPER_OK and go on from the line
        that was not printed. Nothing is printed twice."""
        start = 0
        while start < len(data):
            end = data.find(b"\n", start)
            end = len(data) if end < 0 else end + 1
            if not await self._ready():
                await self._wait_until_ready()
            if await self._write(data[start:end]):
                start = end
            # else: paper ended during this line; it was not printed, the
            # check above waits for paper and sends it again.

    async def _wait_until_ready(self):
        self._paper_back.clear()
        self._post(PAPER_OUT)
        while True:
            if self.paper_poll_ms is None:
                await self._paper_back.wait()
            else:
                try:
                    await wait_for_ms(self._paper_back.wait(), self.paper_poll_ms)
                except TimeoutError:
                    pass
            self._paper_back.clear()
            if await self._ready():
                break
        self._post(PAPER_OK)

    def has_paper(self):
        return self._paper_present()

    def _paper_changed(self, present):
        """Backends call this when they see paper come back."""
        if present:
            self._paper_back.set()

    async def _ready(self):
        """True if the next line can print. Raises PrinterError when the
        printer cannot be asked (not responding, garbled answers)."""
        return self._paper_present()

    async def _write(self, data):
        """Print one line; return False if paper ended before it printed."""
        raise NotImplementedError

    def _paper_present(self):
        raise NotImplementedError


class NoPrinter(Printer):
    """A handset without a printer (address `none:`; setting paper none):
    it has no paper and every job fails at once, so nothing ever waits for
    paper that cannot come. The firmware sends it nothing with paper none."""

    async def print_job(self, data):
        raise PrinterError("this handset has no printer")

    def _paper_present(self):
        return False
