"""An ESC/POS thermal printer on a pty, as the printer driver sees one.

It prints line by line as a real one does: bytes gather until LF (or a
status request) and then go on the paper, `printed`, which the emulator's
paper view (emulator/paper.py) and the tests read. DLE EOT n is answered at
once, wherever it comes in the stream, with the state's status byte.

    sim = EscPosPrinterSim().start()        # sim.path -> "escpos:" + sim.path
    sim.paper_runs_out_after(200)           # the roll ends mid-receipt
    sim.load_paper(); sim.open_cover(); sim.close_cover()
    sim.silent = True                       # a printer that answers nothing
    sim.garble = True                       # answers status requests with noise
    sim.error = True                        # offline with an error (a jammed cutter)
"""

from hal import escpos_status as status
from emulator.peripherals.pty import PtyPeer

DLE_EOT = bytes((status.DLE, status.EOT))
INIT = b"\x1b@"


class EscPosPrinterSim(PtyPeer):
    def __init__(self, path=None):
        PtyPeer.__init__(self, path)
        self.printed = bytearray()
        self.status_requests = 0
        self.garble = False
        self.cover_open = False
        self.error = False       # an error that keeps it offline (cutter jammed, head too hot)
        self._paper = True
        self._bytes_left = None  # None: an endless roll
        self._line = bytearray()
        self._tail = b""         # a DLE or DLE EOT split across reads

    # -- what a person does -----------------------------------------------------

    def paper_runs_out_after(self, n_bytes):
        with self._lock:
            self._bytes_left = n_bytes

    def remove_paper(self):
        with self._lock:
            self._paper = False

    def load_paper(self):
        with self._lock:
            self._paper = True
            self._bytes_left = None

    def open_cover(self):
        with self._lock:
            self.cover_open = True

    def close_cover(self):
        with self._lock:
            self.cover_open = False

    def has_paper(self):
        return self._paper

    def slips(self):
        """What was printed, one slip each (every slip starts with ESC @,
        as firmware/escpos.py's start() makes it)."""
        with self._lock:
            data = bytes(self.printed)
        return [INIT + part for part in data.split(INIT) if part]

    def save_png(self, path, table, font=None):
        """The paper so far, drawn by the emulator's paper view (the same
        renderer as the desktop emulator's receipts)."""
        from emulator.paper import save_receipt_png
        with self._lock:
            data = bytes(self.printed)
        return save_receipt_png(data, table, path, font)

    def take(self):
        """Everything printed since the last take() (for a paper view that
        draws slips as they come)."""
        with self._lock:
            out = bytes(self.printed)
            del self.printed[:]
            return out

    # -- the line -----------------------------------------------------------------

    def on_bytes(self, data):
        data = self._tail + data
        self._tail = b""
        i = 0
        while i < len(data):
            b = data[i]
            if b == status.DLE:
                if i + 2 >= len(data) and data[i:i + 2] in (b"\x10", DLE_EOT):
                    self._tail = data[i:]    # wait for the rest of the request
                    return
                if data[i:i + 2] == DLE_EOT:
                    self._answer(data[i + 2])
                    i += 3
                    continue
            self._line.append(b)
            if b == 0x0A:
                self._end_line()
            i += 1

    def _answer(self, n):
        # A real printer prints what it holds before it can tell about paper.
        self._end_line()
        self.status_requests += 1
        if self.garble:
            self.send(b"\xff")
            return
        if n not in (1, 2, 3, 4):
            return  # not a status request a printer knows: no answer
        self.send(bytes((status.encode_status(n, cover_open=self.cover_open, paper_out=not self._paper,
                                              error=self.error),)))

    def _end_line(self):
        line = bytes(self._line)
        self._line = bytearray()
        if not line:
            return
        if not self._paper or self.cover_open or self.error:
            return  # offline: what comes in is lost, as on the real printer
        if self._bytes_left is not None:
            if len(line) > self._bytes_left:
                # The line that does not fit is not printed at all.
                self._paper = False
                self._bytes_left = 0
                return
            self._bytes_left -= len(line)
        self.printed.extend(line)
