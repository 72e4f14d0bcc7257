"""Key press -> framebuffer while a host request is in flight, p50 and p99,
against the 16.7 ms frame budget of a 60 Hz screen; under CPython and
MicroPython (bench/keypress_probe.py runs inside the firmware's loop).

    python bench/keypress.py [--quick]
"""

import json
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from bench.figures import Figure, percentile, text_table  # noqa: E402

PROBE = os.path.join(ROOT, "bench", "keypress_probe.py")
FRAME_MS = 1000 / 60
HOST_DELAY_MS = 300     # each echo stays in flight this long


def _run(interpreter, port, folder, count):
    command = [interpreter, PROBE, "--path", ROOT, "--data", folder, "--port", str(port), "--count", str(count)]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    if done.returncode:
        raise RuntimeError("%s probe failed:\n%s%s" % (interpreter, done.stdout, done.stderr[-3000:]))
    out = json.loads(done.stdout.strip().splitlines()[-1])
    if not out["echoes"]:
        raise RuntimeError("%s probe: no host request completed during the run" % interpreter)
    return out


def figures(quick=False):
    from emulator.host.server import HostSimulator
    from tests.support import micropython_path
    count = 60 if quick else 400
    runs = [("CPython", sys.executable)]
    if micropython_path():
        runs.append(("MicroPython", micropython_path()))
    out = []
    with tempfile.TemporaryDirectory(prefix="bench-keys-") as folder:
        host = HostSimulator(os.path.join(folder, "host.sqlite"))
        port = host.start_in_thread()
        try:
            host.faults.add("delay", mti="0820", count=None, delay_ms=HOST_DELAY_MS)
            for name, interpreter in runs:
                result = _run(interpreter, port, os.path.join(folder, name), count)
                ms = [us / 1000 for us in result["latency_us"]]
                p99 = percentile(ms, 0.99)
                out.append(Figure("key press -> framebuffer p50, host request in flight (%s)" % name,
                                  percentile(ms, 0.5), "ms", "the 60 Hz frame", FRAME_MS, "report"))
                out.append(Figure("key press -> framebuffer p99, host request in flight (%s)" % name,
                                  p99, "ms", "the 60 Hz frame", FRAME_MS, "p99 ≤ 16 ms", p99 <= 16,
                                  "%d keys, %d echoes answered meanwhile" % (len(ms), result["echoes"])))
        finally:
            host.stop_thread()
    return out


if __name__ == "__main__":
    print(text_table(figures("--quick" in sys.argv)))
