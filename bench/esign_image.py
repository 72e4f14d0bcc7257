"""The electronic signature's image (firmware/esign.py): its bytes for a
cursive name and a dense scribble at 256x96, beside CCITT Group 4 of the
same bitmap (Pillow's libtiff, the codec's strip alone: the TIFF wrapper
around it is left out, since an acquirer's F62 would carry no TIFF), and
the time to encode under MicroPython (the handset's interpreter) beside
the same code under CPython.

    python bench/esign_image.py [--quick]      (or python -m bench esign)

The handset's ARM runs MicroPython some 12-16x slower than this x86
(docs/HANDSET.md), so the goal for MicroPython here is 125 ms: about
2 s on the handset at worst.
"""

import io
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from bench.figures import Figure, text_table  # noqa: E402
from firmware import esign  # noqa: E402

W, H = esign.IMAGE_WIDTH, esign.IMAGE_HEIGHT
HANDSET_SLOWDOWN = 16
HANDSET_GOAL_MS = 2000

# Runs under both interpreters: the best of `repeat` encodes, in µs, for
# each signature (strokes given as literals: MicroPython has no pytest).
MEASURE = """
import sys
sys.path.insert(0, %r)
import time
from firmware import esign
try:
    ticks, diff = time.ticks_us, time.ticks_diff
except AttributeError:
    ticks, diff = (lambda: int(time.perf_counter() * 1e6)), (lambda a, b: a - b)
for strokes in %r:
    bits = esign.rasterize(strokes)
    best = None
    for _ in range(%d):
        start = ticks()
        esign.encode(bits, esign.IMAGE_WIDTH, esign.IMAGE_HEIGHT)
        took = diff(ticks(), start)
        if best is None or took < best:
            best = took
    print(best)
"""


def signatures():
    from tests.unit.test_esign import handwriting
    return (("cursive name", handwriting()), ("dense scribble", handwriting(loops=5)))


def group4_bytes(bits):
    """Bytes of CCITT G4 for the bitmap: the TIFF strip, without the TIFF."""
    from PIL import Image
    image = Image.frombytes("1", (W, H), bytes(_packed(bits)))
    buffer = io.BytesIO()
    image.save(buffer, format="TIFF", compression="group4")
    return sum(Image.open(io.BytesIO(buffer.getvalue())).tag_v2[279])     # StripByteCounts


def _packed(bits):
    """1 bit a pixel, most significant first, 1 = white (Pillow's mode "1")."""
    out = bytearray()
    for y in range(H):
        for x in range(0, W, 8):
            byte = 0
            for i in range(8):
                byte = (byte << 1) | (0 if bits[y * W + x + i] else 1)
            out.append(byte)
    return out


def encode_ms(interpreter, strokes_list, repeat):
    run = subprocess.run([interpreter, "-c", MEASURE % (ROOT, strokes_list, repeat)],
                         capture_output=True, text=True, timeout=300, cwd=ROOT)
    if run.returncode:
        raise RuntimeError("%s: %s" % (interpreter, run.stdout + run.stderr))
    return [int(line) / 1000.0 for line in run.stdout.split()]


def figures(quick=False):
    from tests.support import micropython_path
    out = []
    named = signatures()
    for name, strokes in named:
        bits = esign.rasterize(strokes)
        ours = len(esign.encode(bits, W, H))
        peer = group4_bytes(bits)
        out.append(Figure("e-signature image bytes, %s %dx%d" % (name, W, H), ours, "B",
                          "CCITT G4 (Pillow, strip only)", peer, "< 1 KB and ≤ 0.5× G4",
                          ours < 1024 and ours <= peer // 2, "%d ink pixels" % sum(bits)))
    repeat = 3 if quick else 9
    strokes_list = [strokes for _, strokes in named]
    cpython = encode_ms(sys.executable, strokes_list, repeat)
    interpreter = micropython_path()
    micropython = encode_ms(interpreter, strokes_list, repeat) if interpreter else [None] * len(named)
    goal = HANDSET_GOAL_MS / HANDSET_SLOWDOWN
    for (name, _), mp, cp in zip(named, micropython, cpython):
        if mp is None:
            out.append(Figure("e-signature encode, %s (MicroPython)" % name, None, "ms",
                              "no micropython interpreter found", note="skipped"))
            continue
        out.append(Figure("e-signature encode, %s (MicroPython)" % name, mp, "ms", "ours under CPython", cp,
                          "≤ %.0f ms (≈ %d s on the handset)" % (goal, HANDSET_GOAL_MS // 1000), mp <= goal,
                          "handset ≈ %.0f ms at %d× slower" % (mp * HANDSET_SLOWDOWN, HANDSET_SLOWDOWN)))
    return out


if __name__ == "__main__":
    print(text_table(figures("--quick" in sys.argv)))
