"""A day at the counter, end to end on loopback: sales and refunds through
the keypad and the card reader, host simulator in this process, journal on
disk. The same scenario (tests/micropython/scenario.py) runs under CPython
and under MicroPython: each is the other's peer. Also the memory both hold:
CPython's peak RSS and MicroPython's live heap after the day.

    python bench/e2e.py [--quick]
"""

import json
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from bench.figures import Figure, median, text_table  # noqa: E402

SCENARIO = os.path.join(ROOT, "tests", "micropython", "scenario.py")
# Results stay up 50 ms (message_ms) so the scenario's driver sees them (each
# step's figure includes that); the tear-off pause is cut to 1 ms.
SETTINGS = {"message_ms": 50, "tear_pause_ms": 1, "reply_timeout_ms": 5000, "connect_timeout_ms": 5000,
            "ui_timeout_ms": 20000, "lang": "en"}
MIB = 1024 * 1024
DAY_HEAP = "4M"


def run_day(interpreter, port, folder, count, extra=()):
    """-> the scenario's output (tests/micropython/scenario.py, mode timed)."""
    command = [interpreter] + list(extra) + [SCENARIO, "--path", ROOT, "--data", os.path.join(folder, "handset"),
                                             "--port", str(port), "--mode", "timed", "--count", str(count),
                                             "--settings", json.dumps(SETTINGS)]
    process = subprocess.Popen(command, cwd=folder, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    stdout, stderr = process.communicate(timeout=600)
    out = json.loads(stdout.strip().splitlines()[-1]) if stdout.strip() else {}
    if process.returncode or "error" in out:
        raise RuntimeError("%s day failed: %s\n%s" % (interpreter, out.get("error"), stderr[-3000:]))
    return out


def figures(quick=False):
    from emulator.host.server import HostSimulator
    from tests.support import micropython_path
    count = 3 if quick else 100
    out = []
    with tempfile.TemporaryDirectory(prefix="bench-e2e-") as folder:
        host = HostSimulator(os.path.join(folder, "host.sqlite"))
        port = host.start_in_thread()
        try:
            cpython_folder = os.path.join(folder, "cpython")
            os.mkdir(cpython_folder)
            cpython = run_day(sys.executable, port, cpython_folder, count)
            interpreter = micropython_path()
            micro = None
            if interpreter:
                micro_folder = os.path.join(folder, "micropython")
                os.mkdir(micro_folder)
                # A heap larger than the handset's, so that the day runs to its
                # end and the figure says how much of it the app really holds.
                micro = run_day(interpreter, port, micro_folder, count, ("-X", "heapsize=%s" % DAY_HEAP))
        finally:
            host.stop_thread()
    for step in ("sale", "refund"):
        ours = median(cpython[step + "_ms"])
        if micro:
            mp = median(micro[step + "_ms"])
            out.append(Figure("%s end to end, loopback (MicroPython, median of %d)" % (step, count), mp, "ms",
                              "CPython, same scenario", ours, "report both"))
        out.append(Figure("%s end to end, loopback (CPython, median of %d)" % (step, count), ours, "ms",
                          "none: the MicroPython row is its peer", goal="report both"))
    rss = cpython["peak_rss_kib"] * 1024
    out.append(Figure("peak RSS, CPython, a day of %d sales + %d refunds" % (count, count), rss / MIB, "MiB",
                      "goal", 30, "≤ 30 MiB", rss <= 30 * MIB))
    if micro:
        heap = micro["heap_after_day"]
        out.append(Figure("MicroPython live heap after boot", micro["heap_after_boot"] / 1024, "KiB",
                          "the handset's 1 MiB heap", 1024, "report"))
        out.append(Figure("MicroPython live heap after a day of %d sales + %d refunds" % (count, count),
                          heap / 1024, "KiB", "the handset's 1 MiB heap", 1024, "≤ 1 MiB", heap <= MIB,
                          "the open batch is held in RAM, packed"))
    return out


if __name__ == "__main__":
    print(text_table(figures("--quick" in sys.argv)))
