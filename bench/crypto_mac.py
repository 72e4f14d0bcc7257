"""3DES retail MAC (ANSI X9.19) of a 200-byte message: our pure-Python DES
against psec (which drives the C of `cryptography`), both under CPython, and
ours under MicroPython.

    python bench/crypto_mac.py [--quick]
"""

import os
import subprocess
import sys
import warnings

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from bench.figures import Figure, interleaved, text_table  # noqa: E402
from hal import crypto  # noqa: E402

KEY = bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")
MESSAGE = bytes(range(200))

MICROPYTHON_SCRIPT = """
import sys, time
sys.path.insert(0, '')
from hal import crypto
key = %r
message = %r
best = None
for _ in range(%d):
    start = time.ticks_us()
    for _ in range(%d):
        crypto.mac_x919(key, message)
    took = time.ticks_diff(time.ticks_us(), start) / %d
    best = took if best is None or took < best else best
print(best)
"""


def figures(quick=False):
    import psec.mac
    warnings.filterwarnings("ignore", module="psec")   # it warns on every single-DES-sized key

    def peer():
        psec.mac.generate_retail_mac(KEY[:8], KEY[8:], MESSAGE, 1)

    def ours():
        crypto.mac_x919(KEY, MESSAGE)

    assert crypto.mac_x919(KEY, MESSAGE) == psec.mac.generate_retail_mac(KEY[:8], KEY[8:], MESSAGE, 1)
    number, repeat = (50, 3) if quick else (300, 7)
    ours_s, peer_s = interleaved([ours, peer], number, repeat)
    out = [Figure("X9.19 MAC of 200 bytes (CPython)", ours_s * 1e3, "ms", "psec (C-backed)", peer_s * 1e3,
                  "report; ours < 1 ms", ours_s < 1e-3, "pure-Python DES: 25 CBC blocks + 2 DES of the final step")]
    from tests.support import micropython_path
    interpreter = micropython_path()
    if interpreter:
        n = number // 5 or 1
        script = MICROPYTHON_SCRIPT % (KEY, MESSAGE, repeat, n, n)
        run = subprocess.run([interpreter, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=300)
        if run.returncode:
            raise RuntimeError("micropython: " + run.stdout + run.stderr)
        mp = float(run.stdout.split()[-1]) / 1e3
        out.append(Figure("X9.19 MAC of 200 bytes (MicroPython)", mp, "ms", "ours under CPython", ours_s * 1e3,
                          "report; < 1 ms", mp < 1.0))
    return out


if __name__ == "__main__":
    print(text_table(figures("--quick" in sys.argv)))
