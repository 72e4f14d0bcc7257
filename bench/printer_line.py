"""A receipt through the ESC/POS driver to a printer on a pty at 115200
baud, against the line rate (bytes x 10 / baud: 8N1, ten bits a byte):
how much of the serial line the driver's pacing and status checks leave.

    python bench/printer_line.py [--quick]

The peer is emulator/peripherals/printer.py (it answers DLE EOT at once,
as a printer with paper does). A pty has no baud rate of its own, so the
time measured is the driver's: its writes, its pause after each line
(line_ms: the printer has no flow control, and prints a line in tens of
milliseconds) and its status query after each line (DLE EOT 1).
"""

import asyncio
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from bench.figures import Figure, text_table  # noqa: E402

BAUD = 115200


def receipt_bytes():
    from firmware import receipt
    from firmware.gb2312 import load_table
    from firmware.settings import Settings
    from tests.unit.test_receipt import SALE, slip
    return receipt.to_escpos(slip(Settings(), SALE, receipt.MERCHANT_COPY), load_table())


def _print_once(data, line_ms):
    from emulator.peripherals.printer import EscPosPrinterSim
    from hal import open_device
    peer = EscPosPrinterSim().start()
    try:
        printer = open_device("printer", "escpos:%s?baud=%d&line_ms=%d" % (peer.path, BAUD, line_ms))
        try:
            start = time.perf_counter()
            asyncio.run(printer.print_job(data))
            took = time.perf_counter() - start
        finally:
            printer.close()
        if bytes(peer.printed).count(b"\n") < data.count(b"\n"):
            raise RuntimeError("the printer peer got %d lines of %d" % (bytes(peer.printed).count(b"\n"),
                                                                       data.count(b"\n")))
        return took
    finally:
        peer.stop()


def figures(quick=False):
    data = receipt_bytes()
    line_time = len(data) * 10 / BAUD
    out = []
    notes = {
        30: "%.0f %% of the line rate. Limit: the paper, not the line: the driver waits line_ms = 30 after "
            "each line, the time a 58 mm printer without flow control takes to print one, then asks DLE EOT 1 "
            "(a paper end mid-receipt resumes at the right line). Sending faster only fills the printer's buffer",
        0: "%.0f %% of the line rate: a pty does not slow to 115200 baud, so this row is the driver's own "
           "cost (writes + a status round trip a line), the floor under the paced figure",
    }
    for line_ms, what in ((30, "default pacing (line_ms=30)"), (0, "no pause (line_ms=0)")):
        took = min(_print_once(data, line_ms) for _ in range(1 if quick else 3))
        share = line_time / took
        out.append(Figure("receipt (%d lines) to an ESC/POS printer on a pty at 115200, %s"
                          % (data.count(b"\n"), what), took * 1000, "ms",
                          "the line rate for %d bytes" % len(data), line_time * 1000, "≥ 95 % of the line rate",
                          share >= 0.95, notes[line_ms] % (share * 100), ratio=share))
    return out


if __name__ == "__main__":
    print(text_table(figures("--quick" in sys.argv)))
