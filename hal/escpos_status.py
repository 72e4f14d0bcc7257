"""ESC/POS real-time status (DLE EOT n): plain functions over bytes.

Shared by the serial printer driver (hal/linux/escpos.py), the printer
simulator on a pty (emulator/peripherals/printer.py) and firmware/escpos.py,
which re-exports them for the encoder's users.

Every answer is one byte whose bits 0 and 7 are 0 and bits 1 and 4 are 1
(0x12 is "nothing to report"); the meaning of the other bits depends on n
(Epson ESC/POS reference, DLE EOT):

    n = 1 printer        bit 2 drawer pin high, bit 3 offline, bit 5 waiting for online recovery
    n = 2 offline cause  bit 2 cover open, bit 3 paper being fed by the button,
                         bit 5 printing stopped by paper end, bit 6 error
    n = 3 error cause    bit 2 recoverable, bit 3 auto-cutter, bit 5 unrecoverable, bit 6 auto-recoverable
    n = 4 paper sensor   bits 2-3 roll near its end, bits 5-6 paper end
"""

DLE = 0x10
EOT = 0x04

PAPER_OK = "paper_ok"
PAPER_NEAR_END = "paper_near_end"
PAPER_OUT = "paper_out"

PRINTER = 1
OFFLINE_CAUSE = 2
ERROR_CAUSE = 3
PAPER_SENSOR = 4


def status_request(n=PAPER_SENSOR):
    """DLE EOT n: 1 printer, 2 offline cause, 3 error, 4 paper sensor."""
    if n not in (1, 2, 3, 4):
        raise ValueError("DLE EOT %d: n must be 1..4" % n)
    return bytes((DLE, EOT, n))


def status_byte(reply):
    """The reply (an int or one byte) as an int; ValueError when it breaks
    the fixed bits, i.e. it is not a status reply at all (line noise, a
    wrong baud rate, an echo)."""
    if isinstance(reply, (bytes, bytearray)):
        if len(reply) != 1:
            raise ValueError("status reply must be one byte, got %d" % len(reply))
        reply = reply[0]
    if reply & 0x93 != 0x12:
        raise ValueError("0x%02X is not a DLE EOT status reply" % reply)
    return reply


def is_offline(reply):
    """DLE EOT 1: True when the printer is offline (then ask n = 2 why)."""
    return bool(status_byte(reply) & 0x08)


def offline_cause(reply):
    """DLE EOT 2 -> set of causes: "cover_open", "feeding", "paper_out", "error"."""
    value = status_byte(reply)
    causes = set()
    if value & 0x04:
        causes.add("cover_open")
    if value & 0x08:
        causes.add("feeding")
    if value & 0x20:
        causes.add("paper_out")
    if value & 0x40:
        causes.add("error")
    return causes


def parse_paper_status(reply):
    """The byte answering DLE EOT 4 -> PAPER_OK / PAPER_NEAR_END / PAPER_OUT."""
    value = status_byte(reply)
    if value & 0x60:
        return PAPER_OUT
    if value & 0x0C:
        return PAPER_NEAR_END
    return PAPER_OK


def encode_status(n, offline=False, cover_open=False, paper_out=False, near_end=False, error=False,
                  feeding=False):
    """The byte a printer in this state answers to DLE EOT n (for the
    simulator and the tests: the inverse of the parsers above)."""
    value = 0x12
    if n == PRINTER:
        if offline or cover_open or paper_out or error or feeding:
            value |= 0x08
    elif n == OFFLINE_CAUSE:
        value |= (0x04 if cover_open else 0) | (0x08 if feeding else 0)
        value |= (0x20 if paper_out else 0) | (0x40 if error else 0)
    elif n == ERROR_CAUSE:
        value |= 0x20 if error else 0
    elif n == PAPER_SENSOR:
        value |= (0x60 if paper_out else 0) | (0x0C if near_end or paper_out else 0)
    else:
        raise ValueError("DLE EOT %d: n must be 1..4" % n)
    return value
