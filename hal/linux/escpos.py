"""ESC/POS thermal printer on a serial line.

    open_device("printer", "escpos:/dev/ttyS0?baud=115200")
    options: baud (115200), line_ms (30: pause after each line, the
    printer has no flow control), answer_ms (500: wait for a status byte),
    paper_poll_ms (500: how often to ask while paper is out)

Before each line the printer is asked DLE EOT 1 (online?); when it is
offline, DLE EOT 2 and 4 say why: paper end or an open cover makes the base
class wait (PAPER_OUT, then PAPER_OK once it can print, resuming at the line
that did not print); any other cause is a PrinterError. After each line it
is asked again, so a line during which the paper ended is sent again
instead of lost (on a real printer whose sensor trips late that line may
print twice: a duplicate line beats a missing one). A printer that does not
answer is PrinterNotResponding, never a hang.
"""

from hal import escpos_status as status
from hal.compat import TimeoutError, sleep_ms
from hal.errors import PrinterError, PrinterNotResponding
from hal.linux.serial import DeviceGone, SerialPort, int_option, parse_baud
from hal.printer import Printer

QUERY_TRIES = 2


class EscPosPrinter(Printer):
    def __init__(self, path, baud=115200, line_ms=30, answer_ms=500, paper_poll_ms=500):
        Printer.__init__(self)
        self.path = path
        self.line_ms = line_ms
        self.answer_ms = answer_ms
        self.paper_poll_ms = paper_poll_ms
        self._port = SerialPort(path, baud, "printer")
        self._checked_ready = False  # the last line's after-check said "ready"
        self._last_ready = True

    @classmethod
    def from_address(cls, path, baud="115200", line_ms="30", answer_ms="500", paper_poll_ms="500"):
        if not path:
            raise TypeError("escpos: needs the serial device, like escpos:/dev/ttyS0")
        return cls(path, parse_baud(baud), int_option("line_ms", line_ms, 0, 10000),
                   int_option("answer_ms", answer_ms, 10, 60000),
                   int_option("paper_poll_ms", paper_poll_ms, 10, 60000))

    # -- Printer hooks --------------------------------------------------------

    async def _write(self, data):
        try:
            self._port.write(data)
        except DeviceGone as e:
            raise PrinterNotResponding("printer not responding: %s" % e)
        if self.line_ms:
            await sleep_ms(self.line_ms)
        ready = await self._ask_ready()
        # The next line's check before printing can use this answer.
        self._checked_ready = ready
        return ready

    async def _ready(self):
        if self._checked_ready:
            self._checked_ready = False
            return True
        return await self._ask_ready()

    def _paper_present(self):
        return self._last_ready

    def close(self):
        self._port.close()

    # -- status ---------------------------------------------------------------

    async def _ask_ready(self):
        """True if online; False for paper end, an open cover or the feed
        button (or offline for no reason it gives: waiting to recover);
        PrinterError for an error that keeps it offline."""
        for _ in range(2):
            if not status.is_offline(await self.query(status.PRINTER)):
                self._last_ready = True
                return True
            causes = status.offline_cause(await self.query(status.OFFLINE_CAUSE))
            if status.parse_paper_status(await self.query(status.PAPER_SENSOR)) == status.PAPER_OUT:
                causes.add("paper_out")
            self._last_ready = False
            if "error" in causes:
                raise PrinterError("printer offline: %s" % ", ".join(sorted(causes)))
            if causes:
                return False
            # Offline, yet no cause: the paper went back in between the
            # questions, or the printer is recovering. Ask once more.
        return False

    async def query(self, n):
        """Ask DLE EOT n; -> the reply byte. Stale input is dropped first
        (an old reply must not answer a new question). A wrong byte is
        asked again once, then PrinterError; no byte at all,
        PrinterNotResponding."""
        garbled = None
        for _ in range(QUERY_TRIES):
            self._port.discard_input()
            try:
                self._port.write(status.status_request(n))
                reply = await self._port.read_exact(1, self.answer_ms)
            except TimeoutError:
                continue
            except DeviceGone as e:
                raise PrinterNotResponding("printer not responding: %s" % e)
            try:
                return status.status_byte(reply)
            except ValueError as e:
                garbled = e
        if garbled is not None:
            raise PrinterError("printer %s answers garbage to a status request (%s): wrong baud rate?"
                               % (self.path, garbled))
        raise PrinterNotResponding("printer not responding: %s did not answer DLE EOT %d within %d ms"
                                   % (self.path, n, self.answer_ms))
