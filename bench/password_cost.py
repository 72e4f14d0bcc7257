"""What one password guess costs: firmware.operators.hash_password with
today's HASH_ROUNDS, beside the old 2,000 rounds measured in the same run,
under CPython and under MicroPython (the interpreter the handset runs).

    python bench/password_cost.py [--quick]      (or python -m bench passwords)

The figure that matters is MicroPython's: what a guess through the handset
costs (goal: at least 100 ms). The handset's ARM is slower than the x86
this runs on, so there it costs more still (docs/ARCHITECTURE.md,
Passwords). CPython's figure is what an attacker holding operators.json
pays a guess in Python.
"""

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from bench.figures import Figure, text_table  # noqa: E402
from firmware.operators import HASH_ROUNDS, LEGACY_ROUNDS  # noqa: E402

# Runs under both interpreters: ms a guess at each round count, the best
# of `repeat`, taken in turn so that a busy moment slows both alike.
MEASURE = """
import sys
sys.path.insert(0, %r)
import time
from firmware.operators import hash_password
try:
    ticks, diff = time.ticks_us, time.ticks_diff
except AttributeError:
    ticks, diff = (lambda: int(time.perf_counter() * 1e6)), (lambda a, b: a - b)
best = {}
for _ in range(%d):
    for rounds in (%d, %d):
        start = ticks()
        hash_password("135790", b"saltsalt", rounds)
        took = diff(ticks(), start)
        if rounds not in best or took < best[rounds]:
            best[rounds] = took
for rounds in best:
    print(rounds, best[rounds])
"""


def measure(interpreter, repeat):
    """-> {rounds: ms a guess} under `interpreter`."""
    run = subprocess.run([interpreter, "-c", MEASURE % (ROOT, repeat, LEGACY_ROUNDS, HASH_ROUNDS)],
                         capture_output=True, text=True, timeout=300, cwd=ROOT)
    if run.returncode:
        raise RuntimeError("%s: %s" % (interpreter, run.stdout + run.stderr))
    figures = {}
    for line in run.stdout.splitlines():
        rounds, us = line.split()
        figures[int(rounds)] = int(us) / 1000.0
    return figures


def figures(quick=False):
    from tests.support import micropython_path
    repeat = 2 if quick else 5
    out = []
    cpython = measure(sys.executable, repeat)
    out.append(Figure("password guess, %d rounds (CPython)" % HASH_ROUNDS, cpython[HASH_ROUNDS], "ms",
                      "the old %d rounds" % LEGACY_ROUNDS, cpython[LEGACY_ROUNDS], "report",
                      note="a million guesses: %.1f h" % (cpython[HASH_ROUNDS] * 1e6 / 3.6e6)))
    interpreter = micropython_path()
    if interpreter:
        mp = measure(interpreter, repeat)
        out.append(Figure("password guess, %d rounds (MicroPython)" % HASH_ROUNDS, mp[HASH_ROUNDS], "ms",
                          "the old %d rounds" % LEGACY_ROUNDS, mp[LEGACY_ROUNDS], ">= 100 ms",
                          mp[HASH_ROUNDS] >= 100,
                          "x86 here; the handset's ARM is slower (assumed 3-10x)"))
    return out


if __name__ == "__main__":
    print(text_table(figures("--quick" in sys.argv)))
