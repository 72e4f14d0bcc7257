"""The Linux drivers' costs: a durable journal append (fsync) and a
framebuffer push (RGB565 -> XRGB8888, a row at a time), each against a peer
measured in the same run, under CPython and MicroPython.

    python bench/drivers.py [--quick]

Peers: an append is set against the same append without fsync (what the
durability costs); a 32-bpp push against a 16-bpp push of the same screen
(what the conversion costs: 16 bpp is a plain copy). PyPI's MicroPython
has no fsync (nor ffi): its append row is the page-cache cost, which the
note says; Debian's arm64 MicroPython on the virtual handset calls libc
fsync through ffi.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from bench.figures import Figure, interleaved, text_table  # noqa: E402

RECORD = b"x" * 200   # about a journal record of a sale

# Runs under either interpreter: prints {"append_us", "nosync_us", "fb32_us", "fb16_us", "row_us", "durable"}.
PROBE = r"""
import sys, json, time, os
sys.path.insert(0, ROOT)
try:
    ticks_us, ticks_diff = time.ticks_us, time.ticks_diff
except AttributeError:
    ticks_us = lambda: time.perf_counter_ns() // 1000
    ticks_diff = lambda a, b: a - b
from hal.storage import DirStorage
from hal.compat import open_device_file
from hal import open_device

def best(run, number, repeat):
    out = None
    for _ in range(repeat):
        start = ticks_us()
        for _ in range(number):
            run()
        took = ticks_diff(ticks_us(), start) / number
        out = took if out is None or took < out else out
    return out

storage = DirStorage(TMP + "/data")
record = b"x" * 200
journal = storage.open_append("journal.dat")   # the journal's own way: kept open, write + fsync
def append():
    journal.append(record)
f = open(TMP + "/plain.dat", "ab")
def nosync():
    f.write(record)
    f.flush()

def display(bpp):
    folder = TMP + "/sysfs%d" % bpp
    try:
        os.mkdir(folder)
    except OSError:
        pass
    for name, value in (("virtual_size", "240,320"), ("bits_per_pixel", str(bpp)), ("stride", str(240 * bpp // 8))):
        with open(folder + "/" + name, "w") as out:
            out.write(value)
    with open(TMP + "/fb%d" % bpp, "wb") as out:
        out.write(bytes(240 * 320 * bpp // 8))
    return open_device("display", "fb:%s/fb%d?sysfs=%s&tty=" % (TMP, bpp, folder))

from firmware.screen import render
screens = []
for bpp in (32, 16):
    d = display(bpp)
    render(d, "SALE", ["Amount", "12.34"])
    screens.append(d)

def push(d):
    def run():
        d._rows = [None] * d.height   # every row counts as changed: a full screen
        d._converted = {}             # and none converted before (alike rows of this screen still are)
        d.show("SALE", [])
    return run

def one_row():
    d = screens[0]
    d.framebuffer[200 * 480] ^= 0xFF
    d.show("SALE", [])

result = {"append_us": best(append, NUMBER, REPEAT), "nosync_us": best(nosync, NUMBER, REPEAT),
          "fb32_us": best(push(screens[0]), max(1, NUMBER // 20), REPEAT),
          "fb16_us": best(push(screens[1]), max(1, NUMBER // 20), REPEAT),
          "row_us": best(one_row, NUMBER, REPEAT), "durable": storage.durable}
print(json.dumps(result))
"""


def _probe(interpreter, number, repeat):
    folder = tempfile.mkdtemp(prefix="bench-drivers-")
    try:
        script = "ROOT = %r\nTMP = %r\nNUMBER = %d\nREPEAT = %d\n" % (ROOT, folder, number, repeat) + PROBE
        out = subprocess.run([interpreter, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=600)
        if out.returncode:
            raise RuntimeError("%s: %s%s" % (interpreter, out.stdout, out.stderr))
        return json.loads(out.stdout.strip().splitlines()[-1])
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def figures(quick=False):
    from tests.support import micropython_path
    number, repeat = (40, 3) if quick else (200, 5)
    out = []
    runs = [("CPython", sys.executable)]
    interpreter = micropython_path()
    if interpreter:
        runs.append(("MicroPython", interpreter))
    for name, path in runs:
        r = _probe(path, number, repeat)
        durable = "fsync" if r["durable"] else "no fsync on this interpreter: page cache only"
        out.append(Figure("journal append of 200 bytes (%s)" % name, r["append_us"], "µs",
                          "the same append without fsync", r["nosync_us"], "report", note=durable))
        out.append(Figure("framebuffer push 240x320, XRGB8888 (%s)" % name, r["fb32_us"] / 1000, "ms",
                          "the same screen at RGB565 (a copy)", r["fb16_us"] / 1000, "report",
                          note="a new screen: every row written, alike rows converted once"))
        out.append(Figure("framebuffer push, one changed row, XRGB8888 (%s)" % name, r["row_us"], "µs",
                          "the full-screen push", r["fb32_us"], "report", note="changed rows only"))
    if not interpreter:
        out.append(Figure("driver costs (MicroPython)", None, "", "no micropython interpreter found",
                          note="skipped"))
    return out


if __name__ == "__main__":
    print(text_table(figures("--quick" in sys.argv)))
