"""ISO 8583 pack + unpack of a sale and of a chip sale with F55: ours
against pyiso8583 with the same layout (CPython), and ours under
MicroPython against ours under CPython.

    python bench/iso8583_codec.py [--quick]
"""

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from bench.figures import Figure, interleaved, text_table  # noqa: E402
from firmware import iso8583  # noqa: E402

SALE = {2: "6222021000000000017", 3: "000000", 4: "000000001234", 11: "000123", 14: "3012", 22: "021",
        25: "00", 35: "6222021000000000017=30121010000000000", 41: "10000001", 42: "898100012340001",
        49: "156", 53: "0600000000000000", 60: "22000001000500", 64: b"ABCD1234"}

# A chip sale as our terminal sends it: PIN, card sequence number and the
# ARQC data in F55 (the tags of a PBOC online request, 9F26 .. 9F41).
CHIP_F55 = bytes.fromhex(
    "9F2608A1B2C3D4E5F60718" "9F2701809F101307010103A0A000010A010000000000F1C2D3E4"
    "9F3704A1B2C3D49F36020042950500000000009A032612019C01009F02060000000012345F2A020156"
    "820270009F1A0201569F03060000000000009F3303E0F1C89F34034203009F3501229F1E0831323334"
    "35363738" "8407A0000003330101" "9F090200209F4104000001235F340101")
CHIP_SALE = dict(SALE)
CHIP_SALE.update({22: "051", 23: "001", 26: "12", 35: "6222021000000000017=30122201000000000",
                  52: bytes.fromhex("1122334455667788"), 53: "2600000000000000", 55: CHIP_F55,
                  60: "22000001000501"})

MESSAGES = (("sale", SALE), ("chip sale with F55", CHIP_SALE))

MICROPYTHON_SCRIPT = """
import sys, time
sys.path.insert(0, '')
from firmware import iso8583
fields = %r
number = %d
best = None
for _ in range(%d):
    start = time.ticks_us()
    for _ in range(number):
        iso8583.unpack(iso8583.pack('0200', fields))
    took = time.ticks_diff(time.ticks_us(), start) / number
    best = took if best is None or took < best else best
print(best)
"""


def _ours(fields):
    def run():
        iso8583.unpack(iso8583.pack("0200", fields))
    return run


def _peer(fields):
    import iso8583 as pyiso  # the peer: pyiso8583
    from tests.pyiso_spec import PY_SPEC, to_pyiso
    doc = {"t": "0200"}
    for number, value in fields.items():
        doc[str(number)] = to_pyiso(value, number)

    def run():
        raw, _ = pyiso.encode(dict(doc), PY_SPEC)
        pyiso.decode(raw, PY_SPEC)
    return run


def micropython_path():
    from tests.support import micropython_path as find
    return find()


def _under_micropython(interpreter, fields, number, repeat):
    script = MICROPYTHON_SCRIPT % (fields, number, repeat)
    out = subprocess.run([interpreter, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=300)
    if out.returncode:
        raise RuntimeError("micropython: " + out.stdout + out.stderr)
    return float(out.stdout.split()[-1]) / 1e6


def figures(quick=False):
    number, repeat = (300, 5) if quick else (2000, 9)
    out = []
    interpreter = micropython_path()
    for name, fields in MESSAGES:
        ours, peer = interleaved([_ours(fields), _peer(fields)], number, repeat)
        ratio = ours / peer
        out.append(Figure("ISO 8583 pack+unpack, %s (CPython)" % name, ours * 1e6, "µs",
                          "pyiso8583, same layout", peer * 1e6, "≤ 0.5× peer", ratio <= 0.5))
        if interpreter:
            mp = _under_micropython(interpreter, fields, number // 4, repeat)
            out.append(Figure("ISO 8583 pack+unpack, %s (MicroPython)" % name, mp * 1e6, "µs",
                              "ours under CPython", ours * 1e6, "report"))
        else:
            out.append(Figure("ISO 8583 pack+unpack, %s (MicroPython)" % name, None, "µs",
                              "no micropython interpreter found", note="skipped"))
    return out


if __name__ == "__main__":
    print(text_table(figures("--quick" in sys.argv)))
